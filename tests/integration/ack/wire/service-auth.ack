# SVC is part of a registration: with a token it needs AUTH first, as NID
# does (an unknown peer learns nothing of the services there are).
backend A
harmonyd --token s3cret
conn
send SVC:default:
expect ERR:auth:
closed
conn
send AUTH:s3cret:SVC:default:NID::SPORT:$A:
expect AUTH:ok:SVC:default:NID:{key}:SPORT:$A:
serves A

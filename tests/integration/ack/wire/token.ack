# With --token nothing registers without AUTH: NID, a wrong token and HOST
# (which registers another address) are refused; with it, all of them work.
backend A
harmonyd --token s3cret-token
conn
send NID::BAL:1:SPORT:$A:
expect ERR:auth:
conn
send AUTH:wrong:NID::
expect ERR:auth:
conn
send HOST:127.0.0.9:NID::
expect ERR:auth:
closed
serves nothing
conn
send AUTH:s3cret-token:NID::BAL:1000:SPORT:$A:
expect AUTH:ok:NID:{key}:BAL:1000:SPORT:$A:
serves A
conn
send AUTH:s3cret-token:ACK:$key:ID:$key:
expect AUTH:ok:ACK:$key:ID:$key:
# HOST with the token registers another address (nothing listens there).
conn
send AUTH:s3cret-token:HOST:127.0.0.9:NID::SPORT:1:BYE:
expect AUTH:ok:HOST:127.0.0.9:NID:{other}:SPORT:1:
closed
nolog s3cret-token
nolog $key

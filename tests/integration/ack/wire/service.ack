# SVC:<name>: (issue 15) picks the service of the registration that
# follows; SVC:default: is answered as every verb is, by its echo, and the
# target it precedes registers and serves as without it.
backend A
harmonyd --no-persistent
conn
send SVC:default:NID::BAL:1000:SPORT:$A:
expect SVC:default:NID:{key}:BAL:1000:SPORT:$A:
send BYE:
closed
serves A
# A heartbeat may name it too: the key finds the target either way.
conn
send SVC:default:ACK:$key:ID:$key:
expect SVC:default:ACK:$key:ID:$key:
send BYE:
closed
nolog $key

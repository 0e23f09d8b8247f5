# node-harmony's reference client registers in one burst, heartbeats on a
# new connection, and says BYE once answered (tests/lib/ackclient.py).
backend A
harmonyd --no-persistent
conn
send NID::BAL:1000:SPORT:$A:
expect NID:{key}:BAL:1000:SPORT:$A:
send BYE:
closed
serves A
conn
send ACK:$key:ID:$key:
expect ACK:$key:ID:$key:
send BYE:
closed
serves A
# The key is the target's secret: never logged.
nolog $key

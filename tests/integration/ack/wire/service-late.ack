# The service comes before the connection's first NID or ID: a SVC after
# one would leave the bound target in the service it was named in, so it
# is refused and the connection closed (the target stays where it is).
backend A
harmonyd
conn
send NID::SPORT:$A:
expect NID:{key}:SPORT:$A:
send SVC:default:
expect ERR:service:
closed
serves A
conn
send ID:$key:SVC:default:
expect ID:$key:ERR:service:
closed
# ACK and CLOSE find their target by its key whatever the service: a SVC
# after an ACK is still in time.
conn
send ACK:$key:SVC:default:ID:$key:
expect ACK:$key:SVC:default:ID:$key:
send BYE:
closed

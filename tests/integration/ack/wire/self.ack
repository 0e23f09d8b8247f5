# harmonyd's own listeners are never targets: every client would come back in.
harmonyd
conn
send NID::SPORT:$ACKPORT:
expect NID:{k1}:ERR:self:
send NID::SPORT:$PORT:
expect NID:{k2}:ERR:self:
serves nothing
log that is harmonyd's own ack listener (127.0.0.1:$ACKPORT)
log that is harmonyd's own client listener (127.0.0.1:$PORT)

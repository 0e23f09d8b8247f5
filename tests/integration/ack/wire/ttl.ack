# TTL (a target's own heartbeat timeout) is 1 s .. 24 h in whole seconds
# (common/limits.h); before NID it applies to the next registration.
backend A
harmonyd
conn
send TTL:0:TTL:86401:TTL:1.5:
expect ERR:ttl:ERR:ttl:ERR:ttl:
send TTL:86400:TTL:1:NID::SPORT:$A:
expect TTL:86400:TTL:1:NID:{key}:SPORT:$A:
serves A
# No heartbeat for its 1 s: down.
sleep 2.5
serves nothing

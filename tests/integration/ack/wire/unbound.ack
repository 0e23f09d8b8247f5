# BAL and SPORT before NID or ID have no target to apply to: each is
# refused, and the connection stays usable.
backend A
harmonyd
conn
send BAL:5:SPORT:$A:
expect ERR:unbound:ERR:unbound:
silent 0.5
serves nothing
send NID::SPORT:$A:
expect NID:{key}:SPORT:$A:
serves A

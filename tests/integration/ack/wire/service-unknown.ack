# A service harmonyd does not have is refused, and the connection closed:
# the NID sent behind it in the same burst must not register anywhere.
backend A
harmonyd
conn
send SVC:nosuch:NID::SPORT:$A:
expect ERR:service:
closed
serves nothing
log names no service "nosuch"

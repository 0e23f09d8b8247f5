# A name outside the rule ([a-z0-9][a-z0-9_-]{0,62}, common/service.h) is
# refused as an unknown one: uppercase, 64 bytes, empty.
backend A
harmonyd
conn
send SVC:Default:NID::SPORT:$A:
expect ERR:service:
closed
conn
send SVC:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:NID::
expect ERR:service:
closed
conn
send SVC::NID::
expect ERR:service:
closed
serves nothing
# 63 bytes is a good name, but not one of harmonyd's services.
conn
send SVC:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:
expect ERR:service:
closed

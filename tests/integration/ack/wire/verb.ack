# An unknown verb is an error, and its argument is read as the next verb:
# the protocol has no length or arity to skip it by.
backend A
harmonyd
conn
send FOO:bar:
expect ERR:verb:ERR:verb:
send NID::SPORT:$A:
expect NID:{key}:SPORT:$A:
send BYE:
closed

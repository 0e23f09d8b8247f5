# A static target's address is not the ack port's to take.
backend A
harmonyd --target 127.0.0.1:$A
conn
send NID::SPORT:$A:
expect NID:{key}:ERR:conflict:
serves A

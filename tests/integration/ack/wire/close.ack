# CLOSE drains the target: answered, and no new session goes there. With
# no session left it is removed at once, so the ID after it is a BID.
backend A
harmonyd
conn
send NID::SPORT:$A:
expect NID:{key}:SPORT:$A:
serves A
conn
send CLOSE:$key:ID:$key:
expect CLOSE:$key:BID:$key:
serves nothing

# CLOSE drains the target: answered, and no new session goes there.
# (Whether an ID after it is answered ID or BID depends on whether the
# last session has ended yet: t_ack_close holds one open on purpose.)
backend A
harmonyd
conn
send NID::SPORT:$A:
expect NID:{key}:SPORT:$A:
serves A
conn
send CLOSE:$key:
expect CLOSE:$key:
serves nothing

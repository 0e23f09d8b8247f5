# The same registration a byte a write: a token may be split anywhere.
backend A
harmonyd
conn
trickle NID::BAL:700:SPORT:$A:
expect NID:{key}:BAL:700:SPORT:$A:
trickle ACK:$key:
expect ACK:$key:
serves A

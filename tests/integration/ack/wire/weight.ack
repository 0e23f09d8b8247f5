# BAL is echoed as sent (node-harmony's clients compare it), and the weight
# is kept within 1..1000000; not a number is the default, 500.
backend A
backend B
backend C
harmonyd
conn
send NID::BAL:0:SPORT:$A:
expect NID:{ka}:BAL:0:SPORT:$A:
log 127.0.0.1:$A, weight 1
conn
send NID::BAL:99999999:SPORT:$B:
expect NID:{kb}:BAL:99999999:SPORT:$B:
log 127.0.0.1:$B, weight 1000000
conn
send NID::BAL:x:SPORT:$C:
expect NID:{kc}:BAL:x:SPORT:$C:
log 127.0.0.1:$C, weight 500

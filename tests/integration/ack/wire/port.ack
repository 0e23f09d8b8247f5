# SPORT outside 1..65535 is refused, and the target the connection's NID
# made is removed with it: nothing is left half-registered.
backend A
harmonyd
conn
send NID::SPORT:0:
expect NID:{k1}:ERR:port:
conn
send NID::SPORT:65536:
expect NID:{k2}:ERR:port:
serves nothing
# Their keys stay answered but bind nothing (docs/API.md, "Removal"): a
# client that keeps heartbeating does not bring a removed target back.
conn
send ID:$k1:ID:$k2:
expect ID:$k1:ID:$k2:
serves nothing
send NID::SPORT:65535:
expect NID:{k3}:SPORT:65535:

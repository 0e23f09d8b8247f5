# AGENT:<product>/<version>: (issue 16) names the client, answered by its
# echo; the changes the connection makes are then by agent, the name
# their reason, in the log. A connection without it is ack, as before.
backend A
harmonyd --no-persistent
conn
send AGENT:harmony-agent/0.9:NID::BAL:1000:SPORT:$A:
expect AGENT:harmony-agent/0.9:NID:{key}:BAL:1000:SPORT:$A:
send BYE:
closed
serves A
log is UP (by agent: harmony-agent/0.9)
conn
send ID:$key:BAL:900:
expect ID:$key:BAL:900:
send BYE:
closed
log weight 900 (by ack)
# Too late after the connection's first NID, ID, ACK or CLOSE, and a name
# that breaks the rule (no version, a blank, a byte outside it): ERR:agent:
# and the end of the connection, nothing behind it done.
conn
send ACK:$key:AGENT:x/1:BAL:5:
expect ACK:$key:ERR:agent:
closed
conn
send AGENT:harmony-agent:NID::
expect ERR:agent:
closed
conn
send AGENT:my agent/1:NID::
expect ERR:agent:
closed
conn
send AGENT:caf\xc3\xa9/1:NID::
expect ERR:agent:
closed
nolog weight 5 (
nolog $key

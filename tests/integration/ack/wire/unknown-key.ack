# A key harmonyd does not know is answered BID, whatever the verb
# (node-harmony's client registers anew on its next connection).
harmonyd
conn
send ID:0123456789abcdef0123456789abcdef:
expect BID:0123456789abcdef0123456789abcdef:
send ACK:nosuchkey:CLOSE:nosuchkey:
expect BID:nosuchkey:BID:nosuchkey:
silent 0.3

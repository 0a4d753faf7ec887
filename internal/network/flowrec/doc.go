// Package flowrec is the flow-record batch a hub node's agent sends to the
// controller (POST /agent/v1/flows): one record per connection that ended
// in a customer hub's connection tracking, with its addresses and ports as
// the hub first saw them (original) and as the answer came back (reply),
// its bytes and packets each way, and how many records the node could not
// keep since its previous batch.
//
// The reply direction makes the NAT translation explicit: in a connection
// the hub's source NAT (NAPT) rewrote, the reply's destination is the
// public address the inside host was translated to; Record.Translated
// names which side was rewritten, so that no reader has to compare
// addresses itself.
//
// Only connections that ended are recorded (conntrack DESTROY events): a
// connection still open is recorded when it ends, with its whole lifetime
// and counters, never in parts.
//
// Like package observed, this package imports only the standard library,
// so that the agent and the controller share it without each other's
// packages; a batch is decoded strictly and checked against the bounds
// below, and refused whole when it fails.
package flowrec

// Package lookingglass is the controller's side of the customer's looking
// glass: a read of one of its own BGP sessions, answered fresh from the
// BIRD of the hub that runs it, not from the node's last report.
//
// The customer's request (Ask) and the node agent's long poll (Take) may
// reach different controllers sharing one PostgreSQL, so a query is a row
// (lg_queries): Ask writes it and waits at most AnswerWait for its answer;
// the agent of the node that runs the hub takes it, reads BIRD and posts
// the answer (Answer), which Ask then reads. Both waits are woken by the
// store's change broadcast (store.Changes: LISTEN/NOTIFY between
// controllers) and re-read on a short timer besides, so that a lost wake
// costs at most recheck.
//
// A flood must not reach the nodes: a customer has at most MaxInFlight
// queries waiting and MaxPerMinute a minute, and a node is handed only
// queries younger than AnswerWait (an older one has no one waiting).
// Queries are kept for Keep, then removed by the next query or node poll.
package lookingglass

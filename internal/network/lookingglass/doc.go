// Package lookingglass is the contract between the controller and a hub
// node's agent for the customer's looking glass: a Query the controller
// hands the agent (one BGP session of one port of one hub) and the Answer
// the agent reads from that hub's BIRD at once — the session's state and
// timers, the routes it received (accepted, or refused with the reason)
// and the routes the hub advertises on it.
//
// Like package desired and package observed, it is a contract between two
// processes: standard library only (deps_test.go), a JSON schema
// (lookingglass.schema.json), a named version, strict decoding with every
// list bounded, so that neither side trusts the other's lengths.
package lookingglass

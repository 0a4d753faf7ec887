// Package observed is the report a hub node's agent sends to the
// controller: what the node's data plane truly runs and observed, per
// customer hub — the other direction of package desired, with the same
// shape: a schema name and version, typed content, strict decoding and a
// check of what the controller relies on.
//
// A report describes the node as it is, never as it was asked to be: a hub
// the data plane could not realise keeps its last good state, and the
// report says which configuration version that is (ConfigVersion), which
// version the node was given (WantedVersion) and why it did not reach it
// (Error). What the desired state asked for and the hub did not build —
// a session, a link, a rule, a NAT grade — is listed in the hub's
// Problems, never approximated silently.
//
// The controller stores each hub's observation on its own (per hub, with
// the customer it belongs to), so that a customer's read touches only its
// own hubs.
//
// This package imports only the standard library, so that the agent can
// build and the controller can check reports without each other's
// packages.
package observed

// Package e2e holds the end-to-end tests that join the controller and a hub
// node: a controller in the test process, an agent enrolled over mutual TLS,
// and its data plane built in network namespaces with peer routers running
// their own BIRD. It has no code of its own.
package e2e

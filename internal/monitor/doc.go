// Package monitor holds a customer's reachability monitors (ISO/IEC 27017
// CLD.12.4.5): probes the hub sends from its own address on its
// monitoring network toward a customer address behind one of its ports,
// ICMP echo or a TCP connection, every interval.
//
// A monitor is the customer's saved data (monitors), allowed as many times
// as the reachability-monitor option of its active contracts says; the
// ones beyond (newest first) are over quota and not probed. The network
// compiler puts each hub's running monitors into the node's desired state
// (Desired); the node reports every probe once per accepted report, and
// the Ingester takes each once, keyed by monitor and time (last_probe_at,
// set by a conditional UPDATE, so that two controllers given the same
// report take it once). The state follows the probes: fail_after failures
// in a row make it down, an answer up; a node out of contact makes it
// unknown (the job monitor.watch). Each change is a row of monitor_events,
// a webhook event, and a mail to the customer's operations administrators
// and notice contacts, damped to one per monitor per 10 minutes with a
// summary at the window's end. Probes fill 5-minute RTT/loss bins
// (monitor_bins). Events and bins are kept 90 days (records.expire).
//
// A stopped monitor is absent from the desired state and raises nothing
// until resumed; stop and resume are the customer's audited acts.
package monitor

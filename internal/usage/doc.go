// Package usage keeps the customers' usage records (ISO/IEC 27017 12.4.1,
// 12.1.3): the traffic of each port in 5-minute bins, made from the
// cumulative interface counters the nodes report.
//
// A node reports, per port link (a session's connection, a redundant
// port's physical leg), the counters its kernel keeps since the interface
// was made, and the interface's index. The controller keeps the last
// counters per link and node (usage_counters) and turns each newer report
// into deltas (delta.go): the same interface and counters not smaller give
// the difference; another interface index, or a smaller counter, means the
// counters started again from zero, and the delta is the new value. A
// report not newer than the last adds nothing, so a report sent again —
// or taken by two controllers at once — counts once, and no delta is ever
// negative.
//
// Deltas are spread over the 5-minute bins (UTC-aligned) their interval
// covers, in proportion to time (usage_bins). "In" is what the hub's port
// interface received — traffic from the customer's side — and "out" what
// it sent toward the customer. A bin's average rate is its bytes × 8 / 300;
// its peak the highest rate of one report interval inside it.
//
// Records belong to their customer alone: every read takes the customer
// from a tenant.Scope (18.1.3), the purge of a terminated customer erases
// them, and the usage retention (internal/evidence) cuts them.
package usage

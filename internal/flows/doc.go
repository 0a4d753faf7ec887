// Package flows keeps the customers' flow records (ISO/IEC 27017 12.4.1,
// 18.1.3): the connections that ended in their hubs, as the nodes' agents
// send them (contract internal/network/flowrec), stored only in the
// controller's database, each under its own customer and read only by it.
//
// Ingest takes a node's batch: every record's hub must be placed on that
// node under the record's customer, or the whole batch is refused. A
// customer's records are capped per clock hour (Limits.PerHour) so that
// one customer's flood — a scan, a DDoS through its hub — can exhaust
// neither the store nor the others' share of it; what the cap refuses is
// counted, as is what the nodes lost, and both are shown to the customer
// next to its records (Counts) and to the operator (Totals).
//
// Records are kept --retain-flows-days (evidence.Retention.Flows), then
// removed by the records.expire job.
package flows

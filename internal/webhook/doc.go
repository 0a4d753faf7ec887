// Package webhook holds a customer's event webhooks: HTTPS endpoints the
// customer registers, to which tsunagi delivers its events — a monitor up
// or down, a BGP session's change, a route-quota warning, a configuration
// version the data plane reached, a notice — as CloudEvents-formatted JSON,
// each delivery signed with the webhook's own secret (HMAC-SHA256 over a
// timestamp and the body, so that a receiver can refuse a replay),
// retried with back-off and listed in the customer's delivery log.
//
// Emit queues an event inside the transaction of the change that causes
// it, so an event commits with its cause or not at all; the sender
// delivers from the queue apart from every request and job, so that no
// receiver, slow or down, holds up the controller.
package webhook

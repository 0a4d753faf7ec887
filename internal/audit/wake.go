package audit

import "strings"

// Wakes says whether the change an event records may alter what a hub node
// is told — its desired state — so that its transaction wakes the nodes'
// held long polls when it commits (store.Tx.Changed).
//
// Every change a node's document depends on is audited in the transaction
// that makes it (network.Compiler.DesiredStateDoc keys its cache on the
// change counter, which moves with every waking event, for that reason), so
// the rule goes by exclusion: refused actions change nothing, and the
// families below concern only people's access and the records of it —
// sign-in, accounts, factors, sessions, devices, tokens, refused or invalid
// requests, reads, the nodes' own credentials, the audit log's own keys,
// reads, exports, expiry and signing keys, and the scheduler's run records
// (a job's effects record events of their own), route-quota warnings
// (a count the node reported, which changes no document) — and never wake. Any other event wakes, including one of a kind added later: a
// needless wake costs each held poll one cheap re-read, while a missed one
// would leave a node on its old document until the poll's safety re-check.
// The exclusions matter because their volume is set by people and by
// attackers (a flood of refused sign-ins must not make every held poll
// re-read its document at that rate).
func Wakes(ev Event) bool {
	if ev.Result == Denied {
		return false
	}
	for _, p := range quietFamilies {
		if strings.HasPrefix(ev.Action, p) {
			return false
		}
	}
	return true
}

// quietFamilies are the action prefixes that never wake (see Wakes).
var quietFamilies = []string{
	"access.", "account.", "audit.", "breakglass.", "desired_state.read", "device.", "evidence.",
	"job.run", "login.", "mfa.", "node.enrolment_token.", "node_ca.", "password.", "records.",
	"request.", "route_quota.", "security.", "session.", "setup.", "signing_key.", "token.",
}

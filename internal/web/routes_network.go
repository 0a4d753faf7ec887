package web

import "github.com/tsunagi-net/tsunagi/internal/identity"

// networkCustomerRoutes are the customer listener's hub configuration routes:
// ports, routing, firewall, NAT, the edit lock, drafts, review and apply.
func (s *Server) networkCustomerRoutes() []route {
	return []route{
		{"GET", "/api/v1/network/config", identity.ActNetworkRead, s.netApplied},
		{"GET", "/api/v1/network/versions", identity.ActNetworkRead, s.netVersions},
		{"GET", "/api/v1/network/versions/{version}", identity.ActNetworkRead, s.netVersion},
		{"POST", "/api/v1/network/versions/{version}/rollback", identity.ActNetworkEdit, s.netRollback},
		{"GET", "/api/v1/network/lock", identity.ActNetworkRead, s.netLock},
		{"POST", "/api/v1/network/lock", identity.ActNetworkEdit, s.netStartEditing},
		{"DELETE", "/api/v1/network/lock", identity.ActNetworkEdit, s.netReleaseLock},
		{"POST", "/api/v1/network/lock/break", identity.ActLockBreak, s.netBreakLock},
		{"GET", "/api/v1/network/draft", identity.ActNetworkRead, s.netDraft},
		{"PUT", "/api/v1/network/draft", identity.ActNetworkEdit, s.netSaveDraft},
		{"DELETE", "/api/v1/network/draft", identity.ActNetworkEdit, s.netDiscardDraft},
		{"PUT", "/api/v1/network/draft/ports/{code}", identity.ActNetworkEdit, s.netSavePort},
		{"DELETE", "/api/v1/network/draft/ports/{code}", identity.ActNetworkEdit, s.netRemovePort},
		{"PUT", "/api/v1/network/draft/ports/{code}/speed", identity.ActNetworkEdit, s.netSetPortSpeed},
		{"DELETE", "/api/v1/network/draft/ports/{code}/speed", identity.ActNetworkEdit, s.netRemovePortSpeed},
		{"PUT", "/api/v1/network/draft/ports/{code}/removal", identity.ActNetworkEdit, s.netMarkPortRemoval},
		{"DELETE", "/api/v1/network/draft/ports/{code}/removal", identity.ActNetworkEdit, s.netUnmarkPortRemoval},
		{"GET", "/api/v1/network/draft/review", identity.ActNetworkRead, s.netReview},
		{"POST", "/api/v1/network/draft/apply", identity.ActNetworkEdit, s.netApply},
		{"GET", "/api/v1/network/nat", identity.ActNetworkRead, s.netNAT},
		{"GET", "/api/v1/ports/{code}/bgp", identity.ActNetworkRead, s.netBGP},
		{"POST", "/api/v1/ports/{code}/bgp/reenable", identity.ActNetworkEdit, s.netReenable},
		{"GET", "/api/v1/ports/{code}/l2-guard", identity.ActNetworkRead, s.netPortGuard},
		{"POST", "/api/v1/ports/{code}/l2-guard/reenable", identity.ActNetworkEdit, s.netReenablePort},
		{"GET", "/api/v1/ports/{code}/bandwidth-changes", identity.ActNetworkRead, s.netBandwidthHistory},
		{"GET", "/api/v1/network/export", identity.ActNetworkRead, s.netExport},
		{"POST", "/api/v1/network/import", identity.ActNetworkEdit, s.netImport},
	}
}

// networkMgmtRoutes are the management listener's inventory, capacity and
// desired-state routes.
func (s *Server) networkMgmtRoutes() []route {
	return []route{
		{"GET", "/api/v1/capacity", identity.ActCapacityRead, s.opCapacity},
		{"GET", "/api/v1/capacity.csv", identity.ActCapacityRead, s.opCapacityCSV},
		{"GET", "/api/v1/nat-pools", identity.ActCapacityRead, s.opPools},
		{"POST", "/api/v1/nat-pools", identity.ActInventoryManage, s.opCreatePool},
		{"GET", "/api/v1/customers/{customer}/placements", identity.ActCapacityRead, s.opPlacements},
		{"GET", "/api/v1/customers/{customer}/ports/{code}/placement/proposal", identity.ActCapacityRead, s.opProposePlacement},
		{"POST", "/api/v1/customers/{customer}/ports/{code}/placement", identity.ActInventoryManage, s.opPlace},
		{"GET", "/api/v1/customers/{customer}/ports/{code}/bandwidth-changes", identity.ActCapacityRead, s.opBandwidthHistory},
		{"POST", "/api/v1/customers/{customer}/ports/{code}/bandwidth-changes", identity.ActCatalogManage, s.opBandwidthChange},
		{"POST", "/api/v1/customers/{customer}/ports/{code}/bandwidth-changes/{change}/cancel", identity.ActCatalogManage, s.opCancelBandwidthChange},
		{"GET", "/api/v1/customers/{customer}/ports/{code}/end", identity.ActCatalogManage, s.opPortEnd},
		{"POST", "/api/v1/customers/{customer}/ports/{code}/end", identity.ActCatalogManage, s.opEndPort},
		{"POST", "/api/v1/customers/{customer}/ports/{code}/end/cancel", identity.ActCatalogManage, s.opCancelPortEnd},
		{"DELETE", "/api/v1/customers/{customer}/hubs/{hub}", identity.ActCatalogManage, s.opRemoveHub},
		{"GET", "/api/v1/nodes/{node}/desired-state", identity.ActCapacityRead, s.opDesiredState},
		{"GET", "/api/v1/nodes/{node}/affected", identity.ActCapacityRead, s.opAffected},
		{"GET", "/api/v1/nodes/{node}/underlay", identity.ActInventoryManage, s.opUnderlay},
		{"PUT", "/api/v1/nodes/{node}/underlay", identity.ActInventoryManage, s.opSetUnderlay},
	}
}

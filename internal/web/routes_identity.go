package web

import "github.com/tsunagi-net/tsunagi/internal/identity"

// identityCustomerRoutes are the customer listener's account, session, token,
// password and security-policy routes. Path parameters follow the naming
// convention that the cross-customer sweep (sweep_test.go) relies on.
func (s *Server) identityCustomerRoutes() []route {
	return append(s.selfRoutes(identity.CustomerSide),
		route{"POST", "/api/v1/accounts", identity.ActAccountsManage, s.inviteMyAccount},
		route{"GET", "/api/v1/accounts/{account}", identity.ActAccountsRead, s.myAccount},
		route{"DELETE", "/api/v1/accounts/{account}", identity.ActAccountsManage, s.deleteAccount},
		route{"PUT", "/api/v1/accounts/{account}/role", identity.ActAccountsManage, s.setRole},
		route{"POST", "/api/v1/accounts/{account}/unlock", identity.ActAccountsManage, s.unlock},
		route{"GET", "/api/v1/security-policy", identity.ActSecurityManage, s.getPolicy},
		route{"PUT", "/api/v1/security-policy", identity.ActSecurityManage, s.setPolicy},
		route{"GET", "/api/v1/audit", identity.ActAuditOwn, s.myAudit},
		route{"GET", "/api/v1/devices", identity.ActSecurityManage, s.listDevices},
		route{"POST", "/api/v1/devices", identity.ActDevicesManage, s.registerDevice},
		route{"DELETE", "/api/v1/devices/{device}", identity.ActDevicesManage, s.revokeDevice},
	)
}

// identityMgmtRoutes are the management listener's staff and identity routes.
// The staff routes (staff.manage, operators) and the officer routes
// (officers.manage, security officers) share handlers: the identity service
// decides from the principal which staff accounts it reaches.
func (s *Server) identityMgmtRoutes() []route {
	return append(s.selfRoutes(identity.OperatorSide),
		route{"DELETE", "/api/v1/staff/{account}", identity.ActStaffManage, s.deleteAccount},
		route{"PUT", "/api/v1/staff/{account}/role", identity.ActStaffManage, s.setRole},
		route{"POST", "/api/v1/staff/{account}/unlock", identity.ActStaffManage, s.unlock},
		// Security officers' own management: operators cannot reach these
		// accounts (separation of duties, identity/staff.go), and there is
		// no role change here.
		route{"GET", "/api/v1/officers", identity.ActOfficersManage, s.listStaff},
		route{"POST", "/api/v1/officers", identity.ActOfficersManage, s.inviteStaff},
		route{"DELETE", "/api/v1/officers/{account}", identity.ActOfficersManage, s.deleteAccount},
		route{"POST", "/api/v1/officers/{account}/unlock", identity.ActOfficersManage, s.unlock},
		route{"GET", "/api/v1/mail", identity.ActMailRead, s.listMail},
		// A locked-out customer's new operations administrator: requested
		// by an operator, approved by another person, a security officer.
		route{"POST", "/api/v1/customers/{customer}/recoveries", identity.ActRecoveryRequest, s.requestRecovery},
		route{"GET", "/api/v1/recoveries", identity.ActRecoveryApprove, s.listRecoveries},
		route{"POST", "/api/v1/recoveries/{recovery}/approve", identity.ActRecoveryApprove, s.approveRecovery},
		route{"POST", "/api/v1/recoveries/{recovery}/reject", identity.ActRecoveryApprove, s.rejectRecovery},
		route{"POST", "/api/v1/customers/{customer}/break-glass", identity.ActBreakGlassOpen, s.openBreakGlass},
		route{"GET", "/api/v1/break-glass", identity.ActBreakGlassOpen, s.listBreakGlass},
		route{"DELETE", "/api/v1/break-glass/{grant}", identity.ActBreakGlassOpen, s.closeBreakGlass},
		// Saved data, readable by staff only under a live break-glass grant.
		route{"GET", "/api/v1/customers/{customer}/network/config", identity.ActNetworkRead, s.breakGlassConfig},
	)
}

// selfRoutes are every account's own routes, on either listener. Reading
// one's own things is self (tokens may); changing a credential is
// credentials, which only a browser session may do (identity.SessionOnly).
func (s *Server) selfRoutes(side identity.Side) []route {
	return []route{
		{"POST", "/api/v1/password-reset", "", s.requestReset(side)},
		{"POST", "/api/v1/password-reset/complete", "", s.setup(side)},
		{"PUT", "/api/v1/me/password", identity.ActCredentials, s.changePassword},
		// A preference, not a credential: an API token may set it too.
		{"PUT", "/api/v1/me/language", identity.ActSelf, s.setLanguage},
		{"GET", "/api/v1/sessions", identity.ActSelf, s.listSessions},
		{"DELETE", "/api/v1/sessions/{session}", identity.ActCredentials, s.revokeSession},
		{"GET", "/api/v1/tokens", identity.ActSelf, s.listTokens},
		{"DELETE", "/api/v1/tokens/{token}", identity.ActCredentials, s.revokeToken},
		{"POST", "/api/v1/session/mfa", identity.ActMFA, s.verifyMFA(side)},
		{"POST", "/api/v1/session/reauth", identity.ActFactorEnrol, s.reauth},
		{"POST", "/api/v1/session/reauth/webauthn/begin", identity.ActCredentials, s.beginWebAuthnReauth},
		{"POST", "/api/v1/session/reauth/webauthn/finish", identity.ActCredentials, s.finishWebAuthnReauth},
		{"POST", "/api/v1/me/totp", identity.ActFactorEnrol, s.beginTOTP},
		{"POST", "/api/v1/me/totp/confirm", identity.ActFactorEnrol, s.confirmTOTP(side)},
		{"DELETE", "/api/v1/me/totp", identity.ActCredentials, s.removeTOTP},
		{"POST", "/api/v1/me/webauthn/register/begin", identity.ActFactorEnrol, s.beginWebAuthnRegistration},
		{"POST", "/api/v1/me/webauthn/register/finish", identity.ActFactorEnrol, s.finishWebAuthnRegistration(side)},
		{"POST", "/api/v1/session/webauthn/begin", identity.ActMFA, s.beginWebAuthnLogin},
		{"POST", "/api/v1/session/webauthn/finish", identity.ActMFA, s.finishWebAuthnLogin(side)},
		{"GET", "/api/v1/me/webauthn", identity.ActSelf, s.listWebAuthnKeys},
		{"DELETE", "/api/v1/me/webauthn/{key}", identity.ActCredentials, s.deleteWebAuthnKey},
	}
}

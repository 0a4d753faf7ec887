// Package custexport is the customer's own copy of its saved data (ISO/IEC
// 27017 6.1.1, 8.1.1, 12.3.1): the export document
// tsunagi.customer-export/v1 that GET /api/v1/network/export hands out and
// POST /api/v1/network/import reads back as a draft, in this deployment or
// another. The JSON schema is customerexport.schema.json next to this file
// (embedded as SchemaJSON).
//
// # What the document holds
//
//   - exported_at: when it was made (RFC 3339, UTC).
//   - deployment: the regions of the customer's hubs with their data
//     locations, as the panel shows them (6.1.3).
//   - contracts, hubs, ports: what the customer bought, as facts — service
//     and port codes, kinds, contracted speeds, DR priorities. They are not
//     imported (the receiving deployment has its own contracts); an import
//     uses them to find where each configured port and hub belongs.
//   - hub_settings: the deployment's choices that bound a configuration
//     (route limit, default hub ASN, the backbone segment customers cannot
//     use).
//   - versions: every applied configuration version, oldest first, each
//     with when and by whom (the account's login ID: personal data of the
//     customer's own staff, kept because it is the customer's record of
//     who changed what) and its configuration.
//   - draft: the draft being edited, or null.
//   - webhooks: the customer's event webhooks (URL, event types,
//     description, when registered), never their secrets; absent when
//     there are none or the exporting account may not read them
//     (webhooks.read). An import does not read them: a webhook is
//     registered anew, with a new secret.
//
// Every configuration is the JSON the API uses for configurations (GET
// /api/v1/network/versions/{n}: NetworkConfig in openapi-customer.json),
// kept here as raw JSON: this package knows the envelope, the network
// package decodes and validates what is inside. BGP MD5 passwords are
// write-only in the API and are masked ("********") here too, so a copy on
// a laptop does not give them away; an import keeps the password the
// receiving draft already has for the port, and a customer moving to
// another deployment writes the passwords into the file before importing.
//
// # Versioning
//
// Schema names the version of the document. Decode refuses any other
// schema name, unknown members at every level of the envelope and trailing
// data: a document this version cannot read fully is not read in part. A
// change that an older reader could misread gets a new schema name.
//
// This package imports only the standard library (deps_test.go), so that a
// customer's own tooling can use it without the controller.
package custexport

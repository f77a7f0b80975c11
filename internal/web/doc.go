// Package web is the kernel of Moments' HTTP surfaces: the one error type
// (Error, with its constructors), the one adapter that turns a handler
// returning an error into an http.Handler and renders that error (JSON for
// the APIs, the error page for the UI) under an id it also logs, the
// router with its request metrics, the JSON helpers and the Options every
// surface is built from.
//
// Each surface is a package of its own and imports this one:
// internal/web/tracking (the Segment-compatible tracking API, /v1),
// internal/web/api (the REST API, /api/v1, with its OpenAPI document) and
// internal/web/ui (the signed-in pages). internal/web/server assembles
// them, with /healthz and /metrics, into one http.Handler; it cannot live
// here, since this package would then import the surfaces that import it.
package web

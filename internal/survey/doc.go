// Package survey sends the journey map's surveys (NPS 0–10, CSAT 1–5,
// CES 1–7) to contacts through personal links, keeps the fatigue budget
// per person and per account, takes answers on Moments' answer page and
// turns each into a "Survey Responded" event.
//
// A send reserves its place in the budget and its link in one transaction
// (store.ReserveSurveySend), then emails the score scale: each score is a
// link /s/{token}?score=N that records the score with one click and opens
// the page for the comment. A link's token carries 192 random bits and is
// stored only as its SHA-256 hash, bound to one contact, one survey and one
// moment run; it expires (30 days by default). The score, once recorded,
// never changes; a later submission may add or replace the comment.
//
// The answer's event is ingested through the store's ingestion path, the
// same as the tracking API's, so health's emotional score, triggers (a
// detractor moment) and the moment's quality react the same way to
// Moments' own surveys and to another tool's. The event goes when the
// answer page is submitted, or, for a one-click score whose page was left,
// after Config.CommentWindow.
package survey

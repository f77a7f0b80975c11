package health

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/vocab"
)

// Bounds of an Aggregate. They keep one account's aggregate to a few
// kilobytes of JSON (about 30 KB at the very worst, with MaxUsers active
// users), because it is read and written in the ingestion transaction.
const (
	// MaxUsers bounds the distinct active users remembered for the depth
	// of use. An account with more active users in the window counts as
	// having MaxUsers; the most recently active are the ones kept.
	MaxUsers = 1000
	// MaxResponses bounds the latest survey answers per contact and kind.
	MaxResponses = 100
	// MaxRecentSurveys bounds the recent CSAT answers, and the recent CES
	// answers, kept besides the latest per contact: CSAT and CES are asked
	// after each interaction, so one contact may give many.
	MaxRecentSurveys = 20
	// MaxTickets bounds the support tickets kept.
	MaxTickets = 100
	// TicketRetentionDays is how long support tickets are kept, and the
	// window over which the support component is computed.
	TicketRetentionDays = 90
	// MaxMilestones bounds the success path milestones remembered; a map has
	// at most five paths of a handful of milestones each.
	MaxMilestones = 64
	// MaxRecentActivity bounds the recent activity events shown in
	// explanations.
	MaxRecentActivity = 5
	// MaxFeatures bounds the features remembered when the model lists no
	// key features: a product's distinct events rarely pass a few dozen.
	MaxFeatures = 64
	// MaxExecutives bounds the sponsors and champions remembered.
	MaxExecutives = 16
	// StaleHalfLives is the age, in half-lives, past which a survey answer
	// no longer counts: at a weight below 1/16 it would still decide the
	// score alone when it is the only answer, and an opinion given a year
	// ago should not keep an account a champion.
	StaleHalfLives = 4
)

// AggregateFormat is the format version written into every Aggregate, so
// that a stored aggregate of an older format can be recognised and rebuilt
// with Recompute.
const AggregateFormat = 1

const secondsPerDay = 86400

// Aggregate is the per-account summary of events that health scores are
// computed from. It is updated event by event with Apply, stored as JSON,
// and bounded in size whatever the number of events (see the Max
// constants).
//
// Apply is commutative: the aggregate depends only on the set of events
// applied, not on their order, so events that arrive late or out of order
// give the same aggregate as a full recompute over the events sorted by
// time. This holds because every part is either a maximum, a minimum, a
// count, or the first N entries under a total order, and because old data
// is pruned relative to the latest event time seen (Seen), never relative
// to the wall clock. Times are Unix seconds; days are UTC day numbers
// (Unix seconds ÷ 86,400).
//
// The fields are exported for inspection and tests; read an aggregate
// through Score, UsageDrop and the accessor methods, and store it with
// MarshalJSON and UnmarshalJSON (see wire.go for the format).
type Aggregate struct {
	Format int
	// Seen is the latest timestamp of any applied event.
	Seen int64
	// LastActivity is the latest timestamp of a product activity event.
	LastActivity int64
	// Days counts activity events per UTC day over the last
	// max(2 × max(behavioural window, usage-drop window), 3 × behavioural
	// window) days before Seen (the trend compares the last window with
	// the two before it), sorted by day.
	Days []DayCount
	// Users holds, for each active user of the behavioural window before
	// Seen, the 32-bit FNV-1a hash of the user id and the last day the user
	// was active, sorted by hash; at most MaxUsers.
	Users []UserDay
	// Features maps each key feature of the health model that was ever used
	// to the time it was last used. When the model lists no key features,
	// it maps every activity event name instead (at most MaxFeatures, the
	// most recently used), so that breadth can be judged against what the
	// account's segment uses.
	Features map[string]int64
	// Executives are the sponsors and champions seen acting (any tracked
	// event of a contact with that role), with when each was first and
	// last seen, sorted by hash then role; at most MaxExecutives (those
	// with the smallest hashes).
	Executives []Executive
	// KeyContacts are the contacts that identify calls named sponsor or
	// champion (the role trait), with when they were last so named and
	// when an identify call last gave them another role or none; a contact
	// seen acting as sponsor or champion (Executives) is added when it
	// loses the role. At most MaxExecutives, those with the smallest
	// hashes. A role lost is recorded only for a contact already known as
	// sponsor or champion when the identify call is applied, so this part,
	// unlike the others, depends on the order of events: both the ingest
	// hook and a recompute apply an account's events in the order they
	// arrived, so they agree.
	KeyContacts []KeyContact
	// Responses holds the latest survey answer per contact and kind, most
	// recent first; at most MaxResponses, none older than StaleHalfLives.
	Responses []Response
	// RecentCSAT and RecentCES hold the most recent answers of each kind,
	// most recent first; at most MaxRecentSurveys each.
	RecentCSAT []Response
	RecentCES  []Response
	// Tickets holds support tickets opened, escalated and reopened over the
	// last TicketRetentionDays before Seen, most recent first.
	Tickets []Ticket
	// Milestones maps each success path milestone reached to the first time
	// it was reached.
	Milestones map[string]int64
	// Recent holds the latest activity events, most recent first; at most
	// MaxRecentActivity.
	Recent []Activity
}

// DayCount is the number of activity events on one UTC day.
type DayCount struct {
	Day   int64
	Count int
}

// UserDay is an active user (by hash) and the last day the user was active.
type UserDay struct {
	Hash uint32
	Day  int64
}

// Response is one survey answer.
type Response struct {
	// Contact is the user id of the contact who answered.
	Contact string
	// Label is the contact's email when the event carried one that differs
	// from Contact; explanations show it shortened.
	Label string
	Role  string
	Kind  string
	Score float64
	At    int64
}

// Executive is a sponsor or champion (by the hash of the user id) and when
// the account's events first and last showed them.
type Executive struct {
	Hash  uint32
	Role  string
	First int64
	Last  int64
}

// KeyContact is a contact (by the hash of the user id) named sponsor or
// champion by an identify call: Named is the last time a call gave it the
// role, Dropped the last time one gave it another role or none (0 when
// never).
type KeyContact struct {
	Hash    uint32
	Role    string
	Named   int64
	Dropped int64
}

// Ticket is a support ticket event: opened, escalated or reopened.
type Ticket struct {
	Kind string
	At   int64
}

// Activity is one product activity event, kept for explanations.
type Activity struct {
	Name string
	At   int64
}

// Apply updates the aggregate with one event. Events of other call types
// than track, page and screen, and events without a timestamp, change
// nothing but the format version. The model should be the same for every
// event of an account; after a model change, rebuild with Recompute.
//
// Timestamps are trusted: one far in the future would prune the history
// kept so far, so ingest must correct clock skew before events reach Apply.
func (a *Aggregate) Apply(ev Event, model journey.HealthModel) {
	a.Format = AggregateFormat
	if ev.Timestamp.IsZero() || ev.Timestamp.Unix() <= 0 {
		return
	}
	t := ev.Timestamp.Unix()
	if ev.Type == "identify" {
		a.applyIdentify(ev, t)
		return
	}
	if !isTracked(ev.Type) {
		return
	}
	p := paramsOf(model)
	if t > a.Seen {
		newDay := dayOf(t) != dayOf(a.Seen)
		a.Seen = t
		a.prune(p, newDay)
	}

	a.applyExecutive(ev, t)

	switch ev.Name {
	case vocab.EventSurveyResponded:
		a.applySurvey(ev, t, p)
	case vocab.EventTicketOpened, vocab.EventTicketEscalated, vocab.EventTicketReopened:
		kind, _ := ticketKind(ev.Name)
		if t > a.Seen-TicketRetentionDays*secondsPerDay {
			a.Tickets = insertBounded(a.Tickets, Ticket{Kind: kind, At: t}, compareTickets, MaxTickets)
		}
	case vocab.EventMilestoneReached:
		if id := text(str(ev.Properties, "milestone_id")); id != "" {
			a.reachMilestone(id, t)
		}
	default:
		a.applyActivity(ev, t, p)
	}
}

// Recompute builds an aggregate from scratch from an account's events.
// Because Apply is commutative, the events may be in any order, and the
// result equals the aggregate built incrementally from the same events.
func Recompute(events []Event, model journey.HealthModel) *Aggregate {
	a := &Aggregate{}
	for _, ev := range events {
		a.Apply(ev, model)
	}
	return a
}

// LastActivityAt returns the time of the last product activity, or the zero
// time when there was none.
func (a *Aggregate) LastActivityAt() time.Time {
	if a == nil || a.LastActivity == 0 {
		return time.Time{}
	}
	return unix(a.LastActivity)
}

// MilestoneTimes returns the milestones reached and when each was first
// reached, in the form paths.Compute takes.
func (a *Aggregate) MilestoneTimes() map[string]time.Time {
	if a == nil {
		return nil
	}
	out := make(map[string]time.Time, len(a.Milestones))
	for id, t := range a.Milestones {
		out[id] = unix(t)
	}
	return out
}

// params are the parts of the health model that Apply needs, defaulted and
// clamped to sane values.
type params struct {
	window   int64 // behavioural window, days
	ring     int64 // days of daily counts kept
	stale    int64 // survey answer age limit, seconds
	features []string
}

func paramsOf(m journey.HealthModel) params {
	w := windowDays(m)
	drop := usageDropDays(m)
	return params{
		window:   w,
		ring:     max(2*max(w, drop), TrendWindows*w),
		stale:    StaleHalfLives * halfLifeDays(m) * secondsPerDay,
		features: m.Behavioural.KeyFeatures,
	}
}

// windowDays, usageDropDays and halfLifeDays default like Defaults does and
// clamp invalid (negative) settings, which lint reports, to something that
// cannot divide by zero.
func windowDays(m journey.HealthModel) int64 {
	return positive(m.Behavioural.WindowDays, journey.DefaultWindowDays)
}

func usageDropDays(m journey.HealthModel) int64 {
	return positive(m.UsageDrop.WindowDays, journey.DefaultUsageDropDays)
}

func halfLifeDays(m journey.HealthModel) int64 {
	return positive(m.Emotional.HalfLifeDays, journey.DefaultHalfLifeDays)
}

func positive(v, def int) int64 {
	if v == 0 {
		v = def
	}
	return int64(max(v, 1))
}

// prune drops what has fallen out of its retention relative to Seen.
// Day-based parts only move when Seen enters a new day, which keeps the
// cost of an event in the common, time-ordered case independent of the
// number of users.
func (a *Aggregate) prune(p params, newDay bool) {
	if newDay {
		seenDay := dayOf(a.Seen)
		i := 0
		for i < len(a.Days) && a.Days[i].Day <= seenDay-p.ring {
			i++
		}
		a.Days = nilIfEmpty(slices.Delete(a.Days, 0, i))
		a.Users = nilIfEmpty(slices.DeleteFunc(a.Users, func(u UserDay) bool {
			return u.Day <= seenDay-p.window
		}))
	}
	cut := a.Seen - p.stale
	a.Responses = trimOlder(a.Responses, cut, responseAt)
	a.RecentCSAT = trimOlder(a.RecentCSAT, cut, responseAt)
	a.RecentCES = trimOlder(a.RecentCES, cut, responseAt)
	a.Tickets = trimOlder(a.Tickets, a.Seen-TicketRetentionDays*secondsPerDay, func(t Ticket) int64 { return t.At })
}

func (a *Aggregate) applyActivity(ev Event, t int64, p params) {
	a.LastActivity = max(a.LastActivity, t)
	d := dayOf(t)
	seenDay := dayOf(a.Seen)

	if d > seenDay-p.ring {
		i, found := slices.BinarySearchFunc(a.Days, d, func(c DayCount, d int64) int { return cmp.Compare(c.Day, d) })
		if found {
			a.Days[i].Count++
		} else {
			a.Days = slices.Insert(a.Days, i, DayCount{Day: d, Count: 1})
		}
	}

	if ev.UserID != "" && d > seenDay-p.window {
		a.addUser(userHash(ev.UserID), d)
	}

	// A key feature is recognised by the event name, or by a "feature"
	// property for products that send one generic event per feature use.
	feature := str(ev.Properties, "feature")
	if len(p.features) == 0 {
		name := feature
		if name == "" {
			name = ev.Name
		}
		a.useFeature(text(name), t)
	}
	for _, f := range p.features {
		if f == ev.Name || (feature != "" && f == feature) {
			if a.Features == nil {
				a.Features = make(map[string]int64, len(p.features))
			}
			a.Features[f] = max(a.Features[f], t)
		}
	}

	a.Recent = insertBounded(a.Recent, Activity{Name: text(ev.Name), At: t}, compareActivity, MaxRecentActivity)
}

// useFeature records the use of a feature when the model lists no key
// features. Over MaxFeatures, the least recently used feature (then the
// greatest name) is dropped; a feature's time only grows, so the features
// kept do not depend on the order of events.
func (a *Aggregate) useFeature(name string, t int64) {
	if old, ok := a.Features[name]; ok {
		a.Features[name] = max(old, t)
		return
	}
	if len(a.Features) >= MaxFeatures {
		worst, worstT := "", int64(math.MaxInt64)
		for k, v := range a.Features {
			if v < worstT || (v == worstT && k > worst) {
				worst, worstT = k, v
			}
		}
		if t < worstT || (t == worstT && name > worst) {
			return
		}
		delete(a.Features, worst)
	}
	if a.Features == nil {
		a.Features = make(map[string]int64)
	}
	a.Features[name] = t
}

// applyExecutive records executive contact: a survey answer from a sponsor
// or champion, or an executive meeting (whose contact counts as a sponsor
// unless the event says champion). Other events are not read for roles,
// because ingestion looks roles up only for survey answers.
func (a *Aggregate) applyExecutive(ev Event, t int64) {
	if ev.UserID == "" {
		return
	}
	role := strings.ToLower(strings.TrimSpace(ev.ContactRole))
	switch ev.Name {
	case vocab.EventSurveyResponded:
		if role == vocab.RoleSponsor || role == vocab.RoleChampion {
			a.seeExecutive(ev.UserID, role, t)
		}
	case vocab.EventExecutiveMeetingHeld:
		if role != vocab.RoleChampion {
			role = vocab.RoleSponsor
		}
		a.seeExecutive(ev.UserID, role, t)
	}
}

// applyIdentify reads the role trait of an identify call: a contact named
// sponsor or champion is remembered; one already known as sponsor or
// champion (named so, or seen acting so) that is given another role, or
// none (the trait set to null or ""), has left the role. A call without
// the role trait changes nothing.
func (a *Aggregate) applyIdentify(ev Event, t int64) {
	v, ok := ev.Properties["role"]
	if !ok || ev.UserID == "" {
		return
	}
	role, _ := v.(string)
	role = strings.ToLower(strings.TrimSpace(role))
	h := userHash(ev.UserID)
	key := role == vocab.RoleSponsor || role == vocab.RoleChampion
	for i, k := range a.KeyContacts {
		if k.Hash != h {
			continue
		}
		if key {
			if t >= k.Named {
				a.KeyContacts[i].Role = role
			}
			a.KeyContacts[i].Named = max(k.Named, t)
		} else {
			a.KeyContacts[i].Dropped = max(k.Dropped, t)
		}
		return
	}
	k := KeyContact{Hash: h, Role: role, Named: t}
	if !key {
		k = KeyContact{Hash: h, Dropped: t}
		for _, e := range a.Executives {
			if e.Hash == h && (k.Role == "" || e.Role == vocab.RoleSponsor) {
				k.Role = e.Role
			}
		}
		if k.Role == "" {
			return // not known as sponsor or champion: nothing was lost
		}
	}
	i, _ := slices.BinarySearchFunc(a.KeyContacts, h, func(k KeyContact, h uint32) int { return cmp.Compare(k.Hash, h) })
	a.KeyContacts = slices.Insert(a.KeyContacts, i, k)
	if len(a.KeyContacts) > MaxExecutives {
		clear(a.KeyContacts[MaxExecutives:])
		a.KeyContacts = a.KeyContacts[:MaxExecutives]
	}
}

// seeExecutive records an event of a sponsor or champion.
func (a *Aggregate) seeExecutive(userID, role string, t int64) {
	h := userHash(userID)
	for i, e := range a.Executives {
		if e.Hash == h && e.Role == role {
			a.Executives[i].First = min(e.First, t)
			a.Executives[i].Last = max(e.Last, t)
			return
		}
	}
	a.Executives = append(a.Executives, Executive{Hash: h, Role: role, First: t, Last: t})
	slices.SortFunc(a.Executives, func(x, y Executive) int {
		if c := cmp.Compare(x.Hash, y.Hash); c != 0 {
			return c
		}
		return strings.Compare(x.Role, y.Role)
	})
	// Over MaxExecutives, the greatest hash goes. Keeping the smallest
	// hashes (rather than the most recent) keeps the result independent of
	// the order of events: a dropped executive can never come back, so
	// each one kept has every one of its events counted.
	if len(a.Executives) > MaxExecutives {
		clear(a.Executives[MaxExecutives:])
		a.Executives = a.Executives[:MaxExecutives]
	}
}

// addUser records that the user was active on day d. Over MaxUsers, the
// least recently active user (then the highest hash) is dropped; since a
// user's day only grows, the users kept are always the first MaxUsers in
// that order, whatever the order of events.
func (a *Aggregate) addUser(h uint32, d int64) {
	i, found := slices.BinarySearchFunc(a.Users, h, func(u UserDay, h uint32) int { return cmp.Compare(u.Hash, h) })
	if found {
		a.Users[i].Day = max(a.Users[i].Day, d)
		return
	}
	a.Users = slices.Insert(a.Users, i, UserDay{Hash: h, Day: d})
	if len(a.Users) <= MaxUsers {
		return
	}
	worst := 0
	for k, u := range a.Users {
		w := a.Users[worst]
		if u.Day < w.Day || (u.Day == w.Day && u.Hash > w.Hash) {
			worst = k
		}
	}
	a.Users = slices.Delete(a.Users, worst, worst+1)
}

func (a *Aggregate) applySurvey(ev Event, t int64, p params) {
	kind := strings.ToLower(strings.TrimSpace(str(ev.Properties, "kind")))
	sc, ok := scales[kind]
	if !ok {
		return
	}
	score, ok := number(ev.Properties["score"])
	if !ok || score < sc.low || score > sc.high {
		return
	}
	if t <= a.Seen-p.stale {
		return
	}
	r := Response{
		Contact: text(ev.UserID),
		Role:    text(strings.ToLower(strings.TrimSpace(ev.ContactRole))),
		Kind:    kind,
		Score:   score,
		At:      t,
	}
	if email := text(str(ev.Properties, "email")); email != r.Contact {
		r.Label = email
	}

	a.keepLatest(r)
	switch kind {
	case vocab.SurveyCSAT:
		a.RecentCSAT = insertBounded(a.RecentCSAT, r, compareResponses, MaxRecentSurveys)
	case vocab.SurveyCES:
		a.RecentCES = insertBounded(a.RecentCES, r, compareResponses, MaxRecentSurveys)
	}
}

// keepLatest keeps r if it is the latest answer of its contact and kind.
// Ties in time are broken by the rest of the answer (compareResponses) so
// that the winner does not depend on arrival order.
func (a *Aggregate) keepLatest(r Response) {
	for j, old := range a.Responses {
		if old.Contact == r.Contact && old.Kind == r.Kind {
			if compareResponses(r, old) >= 0 {
				return
			}
			a.Responses = slices.Delete(a.Responses, j, j+1)
			break
		}
	}
	a.Responses = insertBounded(a.Responses, r, compareResponses, MaxResponses)
}

// reachMilestone keeps the first time a milestone was reached. Over
// MaxMilestones, the milestone reached last (then the highest id) is
// dropped.
func (a *Aggregate) reachMilestone(id string, t int64) {
	if old, ok := a.Milestones[id]; ok {
		a.Milestones[id] = min(old, t)
		return
	}
	if len(a.Milestones) >= MaxMilestones {
		worstID, worstT := "", int64(math.MinInt64)
		for k, v := range a.Milestones {
			if v > worstT || (v == worstT && k > worstID) {
				worstID, worstT = k, v
			}
		}
		if t > worstT || (t == worstT && id > worstID) {
			return
		}
		delete(a.Milestones, worstID)
	}
	if a.Milestones == nil {
		a.Milestones = make(map[string]int64)
	}
	a.Milestones[id] = t
}

// compareResponses orders answers most recent first, then by every other
// field, so that it is a total order: equal answers are identical.
func compareResponses(x, y Response) int {
	if c := cmp.Compare(y.At, x.At); c != 0 {
		return c
	}
	if c := cmp.Compare(x.Score, y.Score); c != 0 {
		return c
	}
	if c := strings.Compare(x.Kind, y.Kind); c != 0 {
		return c
	}
	if c := strings.Compare(x.Contact, y.Contact); c != 0 {
		return c
	}
	if c := strings.Compare(x.Role, y.Role); c != 0 {
		return c
	}
	return strings.Compare(x.Label, y.Label)
}

func compareTickets(x, y Ticket) int {
	if c := cmp.Compare(y.At, x.At); c != 0 {
		return c
	}
	return strings.Compare(x.Kind, y.Kind)
}

func compareActivity(x, y Activity) int {
	if c := cmp.Compare(y.At, x.At); c != 0 {
		return c
	}
	return strings.Compare(x.Name, y.Name)
}

func responseAt(r Response) int64 { return r.At }

// insertBounded inserts v into s, which is sorted by compare, and keeps the
// first limit elements.
func insertBounded[T any](s []T, v T, compare func(T, T) int, limit int) []T {
	i, _ := slices.BinarySearchFunc(s, v, compare)
	if i >= limit {
		return s
	}
	s = slices.Insert(s, i, v)
	if len(s) > limit {
		clear(s[limit:])
		s = s[:limit]
	}
	return s
}

// trimOlder drops the tail of s, sorted most recent first, at or before cut.
func trimOlder[T any](s []T, cut int64, at func(T) int64) []T {
	n := len(s)
	for n > 0 && at(s[n-1]) <= cut {
		n--
	}
	clear(s[n:])
	return nilIfEmpty(s[:n])
}

// nilIfEmpty keeps empty parts nil, so that an aggregate that went through
// JSON (where empty parts are omitted) compares equal to one that did not.
func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// userHash is 32-bit FNV-1a, written out to avoid an allocation per event.
// With MaxUsers users the chance of any collision is about 1 in 10,000, and
// a collision only undercounts depth by one user.
func userHash(id string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return h
}

// dayOf returns the UTC day number of a Unix time in seconds.
func dayOf(sec int64) int64 {
	d := sec / secondsPerDay
	if sec%secondsPerDay < 0 {
		d--
	}
	return d
}

// text makes a string valid UTF-8 before it is kept, so that the aggregate
// reads back from JSON exactly as it was written.
func text(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

func unix(sec int64) time.Time { return time.Unix(sec, 0).UTC() }

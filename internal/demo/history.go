package demo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/moments-cs/moments/internal/vocab"
)

// Event names the history uses. Most are the ones the example journey map
// listens to (examples/b2b-saas.yaml); the rest are what a CRM or support
// desk would send beside them. The names Moments itself reads (surveys,
// tickets) come from package vocab.
const (
	EventContractSigned    = "Contract Signed"
	EventKickoffHeld       = "Kickoff Held"
	EventUserInvited       = "User Invited"
	EventIntegrationConn   = "Integration Connected"
	EventReportCreated     = "Report Created"
	EventDashboardShared   = "Dashboard Shared"
	EventExportRun         = "Export Run"
	EventLogin             = "Login"
	EventFeatureUsed       = "Feature Used"
	EventSeatsLimitReached = "Seats Limit Reached"
	EventOnboardingSession = "Onboarding Session Held"
	EventExecutiveMeeting  = "Executive Meeting Held"
	EventRenewed           = "Renewed"
	EventChurned           = "Churned"
	EventExpanded          = "Expanded"
	renewalNoticeDays      = 90
	churnedTrickleDays     = 10
)

// activity scales how often people use the product. It sizes the default
// demo (300 accounts, 12 months) at about 130,000 events, which the
// tracking API ingests on embedded SQLite, with every engine hook on, in
// well under 10 s on two cores; the personas' differences are relative, so
// the stories hold at any scale.
const activity = 0.45

// History is what happened to one account: its messages in time order and
// the state it ended in.
type History struct {
	Account  *Account
	Messages []Message
	// Outcome is renewed, expanded, churned, or "" while the first renewal
	// inside the history is still ahead.
	Outcome string
	// Churned is when the account left (zero if it did not).
	Churned time.Time
	// RenewalDate is the account's next (or, churned, last) renewal.
	RenewalDate time.Time
	// Stage is the lifecycle stage at the end.
	Stage string
	// Contacts are the people at the end (a sponsor who left is gone).
	Contacts []*Contact
	// Seats and ARR at the end (after any expansion).
	Seats, ARR int
}

// history builds one account's History.
type history struct {
	cfg        Config
	a          *Account
	rng        *rand.Rand
	start, end time.Time
	out        []Message

	contacts []*Contact
	gone     map[string]time.Time // contact id → left at
	joined   map[string]time.Time

	onboardEnd time.Time
	// fate is the renewal anniversary that decides the account's fate (may
	// lie after end); zero for accounts whose story has no such pivot.
	fate        time.Time
	churnAt     time.Time
	renewals    []time.Time
	expandAt    time.Time
	limitAt     time.Time
	seats, arr  int
	meetingAt   time.Time
	newSponsor  *Contact
	stage       string
	tickets     int
	firstSeen   map[string]bool
	nextSurvey  map[string]time.Time
	lastActive  map[string]time.Time
	weekNoise   float64
	weekOf      int
	outcome     string
	renewalDate time.Time
}

// History generates the account's story. It is deterministic: the same
// company config and account give the same messages.
func (c *Company) History(a *Account) *History {
	h := &history{
		cfg: c.Config, a: a,
		rng:   rand.New(rand.NewPCG(c.Config.Seed^0x9e3779b97f4a7c15, uint64(a.Index)+1)),
		start: c.Config.Start(), end: c.Config.End,
		gone: map[string]time.Time{}, joined: map[string]time.Time{},
		firstSeen: map[string]bool{}, nextSurvey: map[string]time.Time{}, lastActive: map[string]time.Time{},
		seats: a.Seats, arr: a.ARR,
	}
	h.contacts = slices.Clone(a.Contacts)
	h.plan()
	h.run()
	return h.finish()
}

// plan fixes the dates of the story before anything is emitted.
func (h *history) plan() {
	a, rng := h.a, h.rng
	cs := a.ContractStart
	h.onboardEnd = cs.Add(days(float64(a.OnboardDays)))
	// Renewals: yearly anniversaries up to the end. The fate anniversary is
	// the first one at least 60 days into the history (or the next one
	// ahead), where churners leave and expanders have grown.
	arcFrom := maxTime(cs, h.start).Add(days(60))
	for k := 1; ; k++ {
		ann := cs.AddDate(k, 0, 0)
		if h.fate.IsZero() && !ann.Before(arcFrom) {
			h.fate = ann
		}
		if ann.After(h.end) {
			h.renewalDate = ann
			break
		}
		if ann.Equal(h.fate) && a.WillChurn {
			h.churnAt = ann
			h.renewalDate = ann
			break
		}
		h.renewals = append(h.renewals, ann)
	}
	switch a.Persona {
	case SponsorChange:
		left := h.fate.Add(-days(between(rng, 100, 150)))
		left = minTime(left, h.end.Add(-days(30)))
		left = maxTime(left, maxTime(h.start.Add(days(7)), cs.Add(days(float64(a.OnboardDays+20)))))
		if left.Before(h.end) {
			h.gone[h.contacts[0].ID] = left // contact 0 is the sponsor
			ns := &Contact{
				ID: fmt.Sprintf("%s_u%02d", a.ID, len(h.contacts)+1), Role: vocab.RoleSponsor, Title: pick(rng, titles[vocab.RoleSponsor]),
				FirstName: pick(rng, firstNames), LastName: pick(rng, lastNames), Propensity: 0.08,
				Joined: left.Add(days(between(rng, 5, 20))), Replaces: h.contacts[0].ID,
			}
			ns.Email = lower(ns.FirstName+"."+ns.LastName) + "@" + a.Domain
			h.newSponsor = ns
			h.contacts = append(h.contacts, ns)
			if a.SponsorHandled {
				h.meetingAt = workHour(rng, ns.Joined.Add(days(between(rng, 7, 18))), a.TZ)
			}
		}
	}
	if a.WillExpand {
		var at time.Time
		if len(h.renewals) > 0 {
			at = h.renewals[len(h.renewals)-1].Add(-days(between(rng, 25, 60)))
		} else {
			at = h.end.Add(-days(between(rng, 20, 90)))
		}
		if at.After(h.onboardEnd.Add(days(30))) && at.Before(h.end) {
			h.limitAt = workHour(rng, at, a.TZ)
			h.expandAt = workHour(rng, at.Add(days(between(rng, 7, 21))), a.TZ)
		}
	}
	// Contacts join: the sponsor, champion and admins at signing, the
	// others as the admin invites them during onboarding.
	inviteFrom, inviteSpan := cs.Add(days(2)), float64(a.OnboardDays)*0.6
	if a.Persona == SlowOnboarder {
		inviteFrom, inviteSpan = a.Intervention.Add(days(1)), 20
	}
	for _, c := range h.contacts {
		switch {
		case c.Replaces != "":
			h.joined[c.ID] = c.Joined
		case c.Role == vocab.RoleUser:
			h.joined[c.ID] = workHour(rng, inviteFrom.Add(days(between(rng, 0, inviteSpan))), a.TZ)
		default:
			h.joined[c.ID] = cs
		}
	}
}

// run walks the account's life from contract start to the end of the
// history, day by day, emitting what happens.
func (h *history) run() {
	a, rng := h.a, h.rng
	cs := a.ContractStart
	sponsor, admin := h.contacts[0], h.contacts[2]

	// Signing: the account and its first people, from the CRM.
	h.stage = vocab.StageOnboarding
	h.group(cs, nil, []Field{
		{"name", a.Name}, {"plan", a.Plan}, {"segment", a.Segment}, {"arr", a.ARR}, {"seats", a.Seats},
		{"employees", a.Employees}, {"owner", a.Owner}, {"lifecycle_stage", vocab.StageOnboarding},
		{"contract_start", Date(cs)}, {"renewal_date", Date(cs.AddDate(1, 0, 0))}, {"website", "https://" + a.Domain},
		{"persona", string(a.Persona)},
	})
	for _, c := range h.contacts {
		if h.joined[c.ID].Equal(cs) {
			h.identify(cs, c)
		}
	}
	h.track(cs.Add(time.Minute), sponsor, EventContractSigned, []Field{
		{"plan", a.Plan}, {"arr", a.ARR}, {"seats", a.Seats}, {"term_months", 12}, {"owner", a.Owner},
	})
	kickoff := cs.Add(days(between(rng, 3, 8)))
	if a.Persona == SlowOnboarder || a.Persona == Churner {
		kickoff = cs.Add(days(between(rng, 12, 20)))
	}
	kickoff = workHour(rng, kickoff, a.TZ)
	h.track(kickoff, sponsor, EventKickoffHeld, []Field{{"csm", a.Owner}, {"attendees", intBetween(rng, 2, 6)}})
	if chance(rng, 0.6) {
		h.survey(kickoff.Add(days(between(rng, 0.1, 2))), h.contacts[1], "csat", h.csat(kickoff), "csat_kickoff")
	}
	first := cs.Add(days(between(rng, 1, 6)))
	switch a.Persona {
	case SlowOnboarder:
		h.track(a.Intervention, admin, EventOnboardingSession, []Field{{"csm", a.Owner}, {"topic", "setup"}})
		first = a.Intervention.Add(days(between(rng, 0.5, 4)))
	case Churner:
		first = cs.Add(days(between(rng, 10, 30)))
	}
	h.track(workHour(rng, first, a.TZ), admin, EventIntegrationConn, []Field{{"source", pick(rng, integrations)}})
	for _, c := range h.contacts {
		if c.Role == vocab.RoleUser {
			at := h.joined[c.ID]
			h.track(at, admin, EventUserInvited, []Field{{"invitee_email", c.Email}, {"invitee_role", c.Role}})
			h.identify(at.Add(time.Duration(rng.IntN(180)+10)*time.Minute), c)
		}
	}

	// Day by day.
	for day := dayAt(cs, a.TZ, 0, 0); !day.After(h.end); day = day.Add(24 * time.Hour) {
		h.day(day)
		if !h.churnAt.IsZero() && day.After(h.churnAt.Add(days(churnedTrickleDays))) {
			break
		}
	}
}

// day emits one local day of the account's life.
func (h *history) day(day time.Time) {
	a, rng := h.a, h.rng
	noon := day.Add(12*time.Hour - time.Duration(a.TZ)*time.Hour)
	// Lifecycle changes fall on this day.
	if h.stage == vocab.StageOnboarding && !noon.Before(h.onboardEnd) {
		at := workHour(rng, noon, a.TZ)
		h.setStage(at, vocab.StageAdoption)
		if chance(rng, 0.6) {
			h.survey(at.Add(days(between(rng, 0.5, 3))), h.contacts[2], "ces", h.ces(), "ces_onboarding")
		}
	}
	for _, r := range h.renewals {
		h.renewalDay(noon, r, false)
	}
	if !h.churnAt.IsZero() {
		h.renewalDay(noon, h.churnAt, true)
	} else {
		h.noticeDay(noon, h.renewalDate)
	}
	if sameDay(noon, h.limitAt, a.TZ) {
		users := 0
		for _, c := range h.contacts {
			if h.present(c, noon) {
				users++
			}
		}
		h.track(h.limitAt, h.contacts[2], EventSeatsLimitReached, []Field{{"seats", h.seats}, {"users", max(users, h.seats)}})
	}
	if sameDay(noon, h.expandAt, a.TZ) {
		added := max(2, h.seats/4)
		perSeat := h.arr / h.seats
		h.seats += added
		h.arr += added * perSeat
		h.track(h.expandAt, h.contacts[0], EventExpanded, []Field{{"seats_added", added}, {"arr_added", added * perSeat}, {"seats", h.seats}, {"arr", h.arr}})
		h.group(h.expandAt.Add(time.Minute), nil, []Field{{"seats", h.seats}, {"arr", h.arr}, {"expanded_at", Date(h.expandAt)}})
		h.outcome = OutcomeExpanded
		for i := range min(added-1, 3) {
			c := h.newUser(i)
			at := h.expandAt.Add(days(between(h.rng, 1, 14)))
			h.joined[c.ID] = at
			h.track(at, h.contacts[2], EventUserInvited, []Field{{"invitee_email", c.Email}, {"invitee_role", c.Role}})
			h.identify(at.Add(time.Hour), c)
		}
	}
	if left, ok := h.gone[h.contacts[0].ID]; ok && sameDay(noon, left, a.TZ) {
		// The sponsor leaves: the HR sync marks the person as gone and
		// without a role; weeks later a new sponsor is named.
		h.apart(func() {
			h.identifyTraits(left, h.contacts[0], []Field{{"role", nil}, {"left_company", true}, {"left_at", Date(left)}, {"former_role", vocab.RoleSponsor}})
		})
	}
	if h.newSponsor != nil && sameDay(noon, h.newSponsor.Joined, a.TZ) {
		h.identify(h.newSponsor.Joined, h.newSponsor)
	}
	if !h.meetingAt.IsZero() && sameDay(noon, h.meetingAt, a.TZ) {
		h.track(h.meetingAt, h.newSponsor, EventExecutiveMeeting, []Field{{"csm", a.Owner}, {"with", h.newSponsor.Email}})
	}
	if !h.churnAt.IsZero() && noon.After(h.churnAt.Add(days(churnedTrickleDays))) {
		return
	}

	// Monthly: the product's own count of active users, synced as a trait.
	local := noon.Add(time.Duration(a.TZ) * time.Hour)
	if local.Day() == 1 && h.active(noon) {
		n := 0
		for _, c := range h.contacts {
			if t, ok := h.lastActive[c.ID]; ok && noon.Sub(t) < 30*24*time.Hour && h.present(c, noon) {
				n++
			}
		}
		h.group(dayAt(noon, a.TZ, 6, 0), nil, []Field{{"active_users", n}})
	}

	// Usage.
	_, week := local.ISOWeek()
	if week != h.weekOf {
		h.weekOf, h.weekNoise = week, between(rng, 0.75, 1.25)
	}
	e := h.engagement(noon)
	if !h.churnAt.IsZero() && noon.After(h.churnAt) {
		e = 0.04 // a few people log in to export their data
	}
	rhythm := weekday(local.Weekday()) * season(local) * h.weekNoise
	monthEnd := local.AddDate(0, 0, 3).Month() != local.Month()
	for _, c := range h.contacts {
		if !h.present(c, noon) {
			continue
		}
		p := min(0.95, activity*e*c.Propensity*rhythm)
		if rng.Float64() < p {
			h.session(workHour(rng, noon, a.TZ), c, monthEnd)
		}
	}
	if !h.active(noon) {
		return
	}
	// Support: tickets on working days.
	prof := ticketProfiles[a.Persona]
	if rhythm > 0.5 && rng.Float64() < prof.perMonth/21*(0.5+e) {
		if c := h.someone(noon); c != nil {
			h.ticket(workHour(rng, noon, a.TZ), c, prof)
		}
	}
	// Surveys: each person is asked for an NPS every few months.
	for _, c := range h.contacts {
		if !h.present(c, noon) {
			continue
		}
		next, ok := h.nextSurvey[c.ID]
		if !ok {
			next = h.joined[c.ID].Add(days(between(rng, 30, 140)))
			h.nextSurvey[c.ID] = next
		}
		if noon.Before(next) {
			continue
		}
		h.nextSurvey[c.ID] = noon.Add(days(between(rng, 90, 150)))
		p := 0.35
		switch c.Role {
		case vocab.RoleSponsor:
			p = 0.5
		case vocab.RoleChampion:
			p = 0.45
		}
		if rng.Float64() < p {
			h.survey(workHour(rng, noon, a.TZ), c, "nps", h.nps(c, noon), "relationship_nps")
		}
	}
}

// renewalDay handles the renewal notice (−90 days) and the renewal or churn
// at ann.
func (h *history) renewalDay(noon, ann time.Time, churn bool) {
	a, rng := h.a, h.rng
	h.noticeDay(noon, ann)
	if !sameDay(noon, ann, a.TZ) {
		return
	}
	at := workHour(rng, noon, a.TZ)
	if churn {
		reason := churnReason(rng, a)
		h.track(at, h.contacts[0], EventChurned, []Field{{"reason", reason}, {"arr_lost", h.arr}})
		h.stage = vocab.StageChurned
		h.outcome = OutcomeChurned
		h.apart(func() {
			h.group(at.Add(time.Minute), nil, []Field{
				{"lifecycle_stage", vocab.StageChurned}, {"outcome", OutcomeChurned}, {"churned_at", Date(at)}, {"churn_reason", reason},
			})
		})
		return
	}
	next := ann.AddDate(1, 0, 0)
	h.track(at, h.sponsorAt(at), EventRenewed, []Field{{"arr", h.arr}, {"seats", h.seats}, {"term_months", 12}})
	if h.outcome != OutcomeExpanded {
		h.outcome = OutcomeRenewed
	}
	h.stage = vocab.StageAdoption
	h.apart(func() {
		h.group(at.Add(time.Minute), nil, []Field{
			{"lifecycle_stage", vocab.StageAdoption}, {"renewal_date", Date(next)}, {"renewed_at", Date(at)}, {"outcome", h.outcome},
		})
	})
}

// noticeDay moves the account into the renewal stage 90 days out.
func (h *history) noticeDay(noon, ann time.Time) {
	notice := ann.Add(-days(renewalNoticeDays))
	if h.stage != vocab.StageChurned && h.stage != vocab.StageRenewal && sameDay(noon, notice, h.a.TZ) && !noon.Before(h.onboardEnd) {
		h.setStage(dayAt(noon, h.a.TZ, 7, 0), vocab.StageRenewal)
	}
}

func (h *history) setStage(at time.Time, stage string) {
	h.stage = stage
	h.apart(func() { h.group(at, nil, []Field{{"lifecycle_stage", stage}}) })
}

// apart marks the message that emit emits (if it is not past the end) to
// start a batch of its own.
func (h *history) apart(emit func()) {
	n := len(h.out)
	emit()
	if len(h.out) > n {
		h.out[n].StartsBatch = true
	}
}

// engagement is how engaged the account is at t (0–1), following its
// persona's story.
func (h *history) engagement(t time.Time) float64 {
	a := h.a
	since := t.Sub(a.ContractStart).Hours() / 24
	if since < 0 {
		return 0
	}
	ramp := func(from, to, x, span float64) float64 {
		if x >= span {
			return to
		}
		return from + (to-from)*x/span
	}
	var e float64
	switch a.Persona {
	case SlowOnboarder:
		if t.Before(a.Intervention) {
			e = 0.1
		} else {
			e = ramp(0.1, a.Base, t.Sub(a.Intervention).Hours()/24, 30)
		}
	case Churner:
		e = ramp(0.15, a.Base, since, 50)
	case DormantFan:
		// Keen for the first weeks, then it slips their mind.
		e = ramp(0.6, a.Base, since, 45)
	default:
		e = ramp(0.3, a.Base, since, 21)
	}
	// Fading towards a churn that is coming.
	if a.WillChurn && !h.fate.IsZero() && (a.Persona == Churner || a.Persona == DormantFan) {
		if from := h.fate.Add(-days(150)); t.After(from) {
			e *= math.Max(0.12, 1-0.88*t.Sub(from).Hours()/24/150)
		}
	}
	if left, ok := h.gone[h.contacts[0].ID]; ok && t.After(left) {
		d := t.Sub(left).Hours() / 24
		switch {
		case h.meetingAt.IsZero():
			e *= math.Max(0.1, 1-d/120)
		case t.Before(h.meetingAt):
			e *= 0.6
		default:
			e *= 0.6 + 0.4*math.Min(1, t.Sub(h.meetingAt).Hours()/24/30)
		}
	}
	return e
}

// session is one person's visit: a login and a few actions.
func (h *history) session(at time.Time, c *Contact, monthEnd bool) {
	rng := h.rng
	h.lastActive[c.ID] = at
	h.track(at, c, EventLogin, []Field{{"method", pickLogin(rng, h.a)}})
	n := 0
	switch r := rng.Float64(); {
	case r < 0.3:
	case r < 0.75:
		n = 1
	case r < 0.95:
		n = 2
	default:
		n = 3
	}
	w := featureWeights[h.a.Persona]
	for i := range n {
		at = at.Add(time.Duration(rng.IntN(25)+2) * time.Minute)
		r := rng.Float64() * (w[0] + w[1] + w[2] + w[3])
		if monthEnd {
			r *= 0.8 // month-end: more exports
		}
		switch {
		case r < w[0]:
			h.track(at, c, EventReportCreated, []Field{{"report_id", fmt.Sprintf("r%05d", rng.IntN(100000))}, {"template", pick(rng, reportTemplates)}})
		case r < w[0]+w[1]:
			h.track(at, c, EventDashboardShared, []Field{{"dashboard_id", fmt.Sprintf("d%04d", rng.IntN(10000))}, {"shared_with", intBetween(rng, 1, 12)}})
		case r < w[0]+w[1]+w[2] || (monthEnd && i == 0):
			h.track(at, c, EventExportRun, []Field{{"format", pick(rng, []string{"csv", "xlsx", "pdf"})}, {"scheduled", chance(rng, 0.3)}})
		default:
			h.track(at, c, EventFeatureUsed, []Field{{"feature", pick(rng, features)}})
		}
	}
	// Admins of engaged accounts connect another source now and then.
	if c.Role == vocab.RoleAdmin && chance(rng, 0.02) {
		h.track(at.Add(5*time.Minute), c, EventIntegrationConn, []Field{{"source", pick(rng, integrations)}})
	}
}

// featureWeights are the shares of Report Created, Dashboard Shared, Export
// Run and Feature Used in a persona's sessions.
var featureWeights = map[Persona][4]float64{
	Adopter:       {0.35, 0.2, 0.2, 0.25},
	SlowOnboarder: {0.35, 0.15, 0.2, 0.3},
	Captive:       {0.3, 0.2, 0.3, 0.2},
	DormantFan:    {0.55, 0.05, 0.1, 0.3},
	SponsorChange: {0.35, 0.2, 0.2, 0.25},
	SupportHeavy:  {0.35, 0.2, 0.2, 0.25},
	Churner:       {0.5, 0.03, 0.12, 0.35},
}

type ticketProfile struct {
	perMonth, escalate, reopen float64
	csat                       [2]int
}

var ticketProfiles = map[Persona]ticketProfile{
	Adopter:       {0.6, 0.05, 0.05, [2]int{4, 5}},
	SlowOnboarder: {1.2, 0.08, 0.08, [2]int{3, 5}},
	Captive:       {2.5, 0.3, 0.2, [2]int{1, 3}},
	DormantFan:    {0.15, 0.02, 0.02, [2]int{4, 5}},
	SponsorChange: {0.6, 0.08, 0.06, [2]int{3, 5}},
	SupportHeavy:  {5, 0.02, 0.02, [2]int{4, 5}},
	Churner:       {1.5, 0.35, 0.25, [2]int{1, 3}},
}

// ticket emits a support ticket's life: opened, maybe escalated, solved,
// maybe rated and maybe reopened.
func (h *history) ticket(at time.Time, c *Contact, prof ticketProfile) {
	rng := h.rng
	h.tickets++
	id := fmt.Sprintf("%s-T%04d", h.a.ID, h.tickets)
	priority := pick(rng, []string{"low", "normal", "normal", "high"})
	h.track(at, c, vocab.EventTicketOpened, []Field{{"ticket_id", id}, {"category", pick(rng, ticketCategories)}, {"priority", priority}})
	solved := at.Add(days(between(rng, 0.1, 3)))
	if chance(rng, prof.escalate) {
		h.track(at.Add(days(between(rng, 0.05, 1.2))), c, vocab.EventTicketEscalated, []Field{{"ticket_id", id}, {"priority", "urgent"}})
		solved = solved.Add(days(between(rng, 1, 4)))
	}
	h.track(solved, c, vocab.EventTicketSolved, []Field{{"ticket_id", id}})
	if chance(rng, 0.45) {
		score := intBetween(rng, prof.csat[0], prof.csat[1])
		h.survey(solved.Add(days(between(rng, 0.02, 2))), c, "csat", score, "csat_support")
	}
	if chance(rng, prof.reopen) {
		h.track(solved.Add(days(between(rng, 1, 6))), c, vocab.EventTicketReopened, []Field{{"ticket_id", id}})
	}
}

func (h *history) survey(at time.Time, c *Contact, kind string, score int, survey string) {
	h.track(at, c, vocab.EventSurveyResponded, []Field{{"kind", kind}, {"score", score}, {"survey", survey}})
}

// nps is the answer c gives at t, true to the persona's story.
func (h *history) nps(c *Contact, t time.Time) int {
	a, rng := h.a, h.rng
	switch a.Persona {
	case Adopter, SupportHeavy:
		return pick(rng, []int{8, 9, 9, 10, 10, 10})
	case DormantFan:
		return pick(rng, []int{9, 10, 10})
	case Captive:
		return intBetween(rng, 0, 5)
	case Churner:
		return intBetween(rng, 2, 6)
	case SlowOnboarder:
		if t.Before(a.Intervention.Add(days(30))) {
			return intBetween(rng, 5, 8)
		}
		return intBetween(rng, 8, 10)
	case SponsorChange:
		left, ok := h.gone[h.contacts[0].ID]
		switch {
		case !ok || t.Before(left):
			return intBetween(rng, 8, 10)
		case !h.meetingAt.IsZero() && t.After(h.meetingAt):
			return intBetween(rng, 7, 10)
		default:
			return intBetween(rng, 3, 6)
		}
	}
	return 7
}

func (h *history) csat(time.Time) int {
	switch h.a.Persona {
	case Captive, Churner:
		return intBetween(h.rng, 2, 3)
	case SlowOnboarder:
		return intBetween(h.rng, 3, 4)
	}
	return intBetween(h.rng, 4, 5)
}

func (h *history) ces() int {
	switch h.a.Persona {
	case SlowOnboarder, Churner:
		return intBetween(h.rng, 2, 4)
	case Captive:
		return intBetween(h.rng, 3, 5)
	}
	return intBetween(h.rng, 5, 7)
}

func churnReason(rng *rand.Rand, a *Account) string {
	switch a.Persona {
	case SponsorChange:
		return "sponsor_left"
	case Captive:
		return pick(rng, []string{"switched_to_competitor", "poor_support_experience"})
	case DormantFan:
		return "not_enough_value"
	}
	return pick(rng, churnReasons)
}

func pickLogin(rng *rand.Rand, a *Account) string {
	if a.Segment == SegmentEnterprise {
		return "sso"
	}
	return pick(rng, []string{"password", "password", "google"})
}

// present reports whether c works at the account at t.
func (h *history) present(c *Contact, t time.Time) bool {
	if j, ok := h.joined[c.ID]; !ok || t.Before(j) {
		return false
	}
	if left, ok := h.gone[c.ID]; ok && !t.Before(left) {
		return false
	}
	return true
}

// active reports whether the account is a customer at t.
func (h *history) active(t time.Time) bool {
	return !t.Before(h.a.ContractStart) && (h.churnAt.IsZero() || t.Before(h.churnAt))
}

// someone picks a present contact, weighted towards frequent users.
func (h *history) someone(t time.Time) *Contact {
	var total float64
	for _, c := range h.contacts {
		if h.present(c, t) {
			total += c.Propensity + 0.05
		}
	}
	r := h.rng.Float64() * total
	for _, c := range h.contacts {
		if h.present(c, t) {
			if r -= c.Propensity + 0.05; r < 0 {
				return c
			}
		}
	}
	return nil
}

// sponsorAt is the sponsor in office at t; between a sponsor leaving and
// the next being named, the champion speaks for the account.
func (h *history) sponsorAt(t time.Time) *Contact {
	if h.newSponsor != nil && !t.Before(h.newSponsor.Joined) {
		return h.newSponsor
	}
	if left, ok := h.gone[h.contacts[0].ID]; ok && !t.Before(left) {
		return h.contacts[1]
	}
	return h.contacts[0]
}

func (h *history) newUser(i int) *Contact {
	a, rng := h.a, h.rng
	c := &Contact{
		ID: fmt.Sprintf("%s_u%02d", a.ID, len(h.contacts)+1), Role: vocab.RoleUser, Title: pick(rng, titles[vocab.RoleUser]),
		FirstName: pick(rng, firstNames), LastName: pick(rng, lastNames), Propensity: between(rng, 0.2, 0.4),
	}
	c.Email = lower(fmt.Sprintf("%s.%s%d", c.FirstName, c.LastName, i+2)) + "@" + a.Domain
	h.contacts = append(h.contacts, c)
	return c
}

// Emitters. Usage before the history window is not sent, except the first
// time each kind of thing happened (milestones need it); what the CRM
// knows (contracts, people, stages, renewals) is always sent.
var usageEvents = map[string]bool{
	EventLogin: true, EventReportCreated: true, EventDashboardShared: true, EventExportRun: true, EventFeatureUsed: true,
	vocab.EventTicketOpened: true, vocab.EventTicketEscalated: true, vocab.EventTicketReopened: true, vocab.EventTicketSolved: true,
	vocab.EventSurveyResponded: true, EventIntegrationConn: true,
}

func (h *history) emit(m Message) {
	if m.At.After(h.end) {
		return
	}
	if m.Type == "track" && usageEvents[m.Event] && m.At.Before(h.start) {
		if m.Event == EventLogin || m.Event == EventFeatureUsed || h.firstSeen[m.Event] || m.Event == vocab.EventSurveyResponded ||
			m.Event == vocab.EventTicketOpened || m.Event == vocab.EventTicketEscalated || m.Event == vocab.EventTicketReopened || m.Event == vocab.EventTicketSolved {
			return
		}
		h.firstSeen[m.Event] = true
	}
	h.out = append(h.out, m)
}

func (h *history) track(at time.Time, c *Contact, event string, props []Field) {
	h.emit(Message{Type: "track", At: at, UserID: c.ID, GroupID: h.a.ID, Event: event, Fields: props})
}

func (h *history) identify(at time.Time, c *Contact) {
	h.identifyTraits(at, c, []Field{
		{"email", c.Email}, {"first_name", c.FirstName}, {"last_name", c.LastName},
		{"name", c.FirstName + " " + c.LastName}, {"title", c.Title}, {"role", c.Role},
	})
}

func (h *history) identifyTraits(at time.Time, c *Contact, traits []Field) {
	h.emit(Message{Type: "identify", At: at, UserID: c.ID, GroupID: h.a.ID, Fields: traits})
}

// group sends account traits, as the CRM sync would (userId: the sponsor,
// or c when given).
func (h *history) group(at time.Time, c *Contact, traits []Field) {
	if c == nil {
		c = h.sponsorAt(at)
	}
	h.emit(Message{Type: "group", At: at, UserID: c.ID, GroupID: h.a.ID, Fields: traits})
}

// finish orders the messages in time, numbers them and sums up the end
// state.
func (h *history) finish() *History {
	slices.SortStableFunc(h.out, func(x, y Message) int { return x.At.Compare(y.At) })
	for i := range h.out {
		h.out[i].ID = fmt.Sprintf("demo-%d-%s-%05d", h.cfg.Seed, h.a.ID, i)
	}
	var people []*Contact
	for _, c := range h.contacts {
		if h.present(c, h.end) {
			people = append(people, c)
		}
	}
	return &History{
		Account: h.a, Messages: h.out, Outcome: h.outcome, Churned: h.churnAt, RenewalDate: h.renewalDate,
		Stage: h.stage, Contacts: people, Seats: h.seats, ARR: h.arr,
	}
}

// weekday is the share of a working day's activity on each weekday.
func weekday(d time.Weekday) float64 {
	switch d {
	case time.Saturday:
		return 0.07
	case time.Sunday:
		return 0.05
	case time.Friday:
		return 0.8
	case time.Tuesday, time.Wednesday:
		return 1.05
	}
	return 1
}

// season dims the holidays.
func season(t time.Time) float64 {
	switch {
	case t.Month() == time.December && t.Day() >= 22, t.Month() == time.January && t.Day() <= 2:
		return 0.35
	case t.Month() == time.August:
		return 0.8
	}
	return 1
}

// workHour returns a time within working hours (8:00–18:00 local, busiest
// around midday) on the local day of t.
func workHour(rng *rand.Rand, t time.Time, tz int) time.Time {
	m := int((rng.Float64() + rng.Float64()) / 2 * 600)
	return dayAt(t, tz, 8, 0).Add(time.Duration(m)*time.Minute + time.Duration(rng.IntN(60))*time.Second)
}

func sameDay(a, b time.Time, tz int) bool {
	if b.IsZero() {
		return false
	}
	return dayAt(a, tz, 0, 0).Equal(dayAt(b, tz, 0, 0))
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

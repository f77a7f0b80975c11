package journey

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// ChangeKind says how a part of the map changed between two versions.
type ChangeKind string

// Kinds of change.
const (
	ChangeAdded     ChangeKind = "added"
	ChangeRemoved   ChangeKind = "removed"
	ChangeChanged   ChangeKind = "changed"
	ChangeReordered ChangeKind = "reordered"
)

// Areas of the map a change is about.
const (
	AreaMap         = "map"
	AreaStage       = "stage"
	AreaTeam        = "team"
	AreaMoment      = "moment"
	AreaSuccessPath = "success_path"
	AreaHealth      = "health"
	AreaEmail       = "email"
	AreaSurvey      = "survey"
)

// Change is one difference between two versions of a map.
type Change struct {
	Kind ChangeKind `json:"kind"`
	Area string     `json:"area"`
	// ID is the id of the stage, team, moment, success path, email or
	// survey; empty for the map's own fields and health.
	ID string `json:"id,omitempty"`
	// Name is the part's name in the new version (the old one if removed).
	Name string `json:"name,omitempty"`
	// Fields lists the keys that changed, such as "owner", "trigger.when"
	// or "playbook[2].due"; for a reordering, the ids in their new order.
	Fields []string `json:"fields,omitempty"`
	// Detail says where an added or removed moment sits: its stage and
	// owner.
	Detail string `json:"detail,omitempty"`
}

var areaNames = map[string]string{
	AreaStage: "stage", AreaTeam: "team", AreaMoment: "moment", AreaSuccessPath: "success path",
	AreaEmail: "email", AreaSurvey: "survey",
}

var areaPlurals = map[string]string{
	AreaStage: "stages", AreaTeam: "teams", AreaMoment: "moments", AreaSuccessPath: "success paths",
	AreaEmail: "emails", AreaSurvey: "surveys",
}

// String renders the change as one line: "+" added, "-" removed, "~"
// changed or reordered.
func (c Change) String() string {
	switch c.Area {
	case AreaMap:
		return "~ map: " + strings.Join(c.Fields, ", ") + " changed"
	case AreaHealth:
		return "~ health: " + strings.Join(c.Fields, ", ") + " changed"
	}
	what := fmt.Sprintf("%s %q", areaNames[c.Area], c.ID)
	if c.Name != "" && c.Name != c.ID {
		what += fmt.Sprintf(" (%s)", c.Name)
	}
	switch c.Kind {
	case ChangeAdded:
		s := "+ " + what + " added"
		if c.Detail != "" {
			s += ", " + c.Detail
		}
		return s
	case ChangeRemoved:
		s := "- " + what + " removed"
		if c.Detail != "" {
			s += ", " + c.Detail
		}
		return s
	case ChangeReordered:
		return "~ " + areaPlurals[c.Area] + " reordered: " + strings.Join(c.Fields, ", ")
	}
	return "~ " + what + ": " + strings.Join(c.Fields, ", ") + " changed"
}

// FormatChanges renders changes one per line, or says there are none.
func FormatChanges(changes []Change) string {
	if len(changes) == 0 {
		return "no changes\n"
	}
	var b strings.Builder
	for _, c := range changes {
		b.WriteString(c.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// Diff describes what changes from old to new: the map's own fields, then
// stages, teams, moments (moment by moment, with the keys that changed),
// success paths, health, emails and surveys. A nil map counts as empty.
func Diff(old, new *Map) []Change {
	o, n := normalized(old), normalized(new)
	var changes []Change
	var top []string
	for _, key := range []string{"version", "name", "description"} {
		fieldDiff(field(o, key), field(n, key), key, &top)
	}
	if len(top) > 0 {
		changes = append(changes, Change{Kind: ChangeChanged, Area: AreaMap, Fields: top})
	}
	changes = append(changes, diffList(AreaStage, o.Stages, n.Stages, true,
		func(s Stage) (string, string, string) { return s.ID, s.Name, "" })...)
	changes = append(changes, diffList(AreaTeam, o.Teams, n.Teams, true,
		func(t Team) (string, string, string) { return t.ID, t.Name, "" })...)
	changes = append(changes, diffList(AreaMoment, o.Moments, n.Moments, false,
		func(m Moment) (string, string, string) {
			return m.ID, m.Name, fmt.Sprintf("stage %s, owner %s", m.Stage, m.Owner)
		})...)
	changes = append(changes, diffList(AreaSuccessPath, o.SuccessPaths, n.SuccessPaths, true,
		func(p SuccessPath) (string, string, string) { return p.ID, p.Name, "" })...)
	var health []string
	fieldDiff(reflect.ValueOf(o.Health), reflect.ValueOf(n.Health), "", &health)
	if len(health) > 0 {
		changes = append(changes, Change{Kind: ChangeChanged, Area: AreaHealth, Fields: health})
	}
	changes = append(changes, diffList(AreaEmail, o.Emails, n.Emails, false,
		func(e Email) (string, string, string) { return e.ID, "", "" })...)
	changes = append(changes, diffList(AreaSurvey, o.Surveys, n.Surveys, false,
		func(s Survey) (string, string, string) { return s.ID, "", "" })...)
	return changes
}

func field(m *Map, key string) reflect.Value {
	v := reflect.ValueOf(m).Elem()
	return v.Field(fieldsOf(v.Type()).index[key])
}

// diffList compares two lists by id: added and changed items in the new
// order, then removed ones in the old order, then — when order matters —
// a reordering of the items both versions hold.
func diffList[T any](area string, old, new []T, ordered bool, info func(T) (id, name, detail string)) []Change {
	oldByID := map[string]T{}
	var oldIDs []string
	for _, x := range old {
		id, _, _ := info(x)
		if _, dup := oldByID[id]; !dup {
			oldByID[id] = x
			oldIDs = append(oldIDs, id)
		}
	}
	newSet := map[string]bool{}
	var newIDs []string
	var changes []Change
	for _, x := range new {
		id, name, detail := info(x)
		if newSet[id] {
			continue
		}
		newSet[id] = true
		newIDs = append(newIDs, id)
		prev, existed := oldByID[id]
		if !existed {
			changes = append(changes, Change{Kind: ChangeAdded, Area: area, ID: id, Name: name, Detail: detail})
			continue
		}
		var fields []string
		fieldDiff(reflect.ValueOf(prev), reflect.ValueOf(x), "", &fields)
		if len(fields) > 0 {
			changes = append(changes, Change{Kind: ChangeChanged, Area: area, ID: id, Name: name, Fields: fields})
		}
	}
	for _, id := range oldIDs {
		if !newSet[id] {
			_, name, detail := info(oldByID[id])
			changes = append(changes, Change{Kind: ChangeRemoved, Area: area, ID: id, Name: name, Detail: detail})
		}
	}
	if ordered {
		keptOld := slices.DeleteFunc(slices.Clone(oldIDs), func(id string) bool { return !newSet[id] })
		keptNew := slices.DeleteFunc(slices.Clone(newIDs), func(id string) bool { _, ok := oldByID[id]; return !ok })
		if !slices.Equal(keptOld, keptNew) {
			changes = append(changes, Change{Kind: ChangeReordered, Area: area, Fields: newIDs})
		}
	}
	return changes
}

// fieldDiff appends the yaml paths at which a and b differ. Lists of equal
// length are compared item by item ("playbook[2].due"); lists whose length
// changed are reported whole ("playbook").
func fieldDiff(a, b reflect.Value, prefix string, out *[]string) {
	switch a.Kind() {
	case reflect.Struct:
		fi := fieldsOf(a.Type())
		for _, key := range fi.keys {
			i := fi.index[key]
			fieldDiff(a.Field(i), b.Field(i), join(prefix, key), out)
		}
	case reflect.Pointer:
		switch {
		case a.IsNil() && b.IsNil():
		case a.IsNil() || b.IsNil():
			*out = append(*out, prefix)
		default:
			fieldDiff(a.Elem(), b.Elem(), prefix, out)
		}
	case reflect.Slice:
		if a.Len() != b.Len() {
			*out = append(*out, prefix)
			return
		}
		for i := range a.Len() {
			fieldDiff(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", prefix, i), out)
		}
	case reflect.Map:
		keys := map[string]bool{}
		for _, k := range a.MapKeys() {
			keys[k.String()] = true
		}
		for _, k := range b.MapKeys() {
			keys[k.String()] = true
		}
		for _, k := range sortedKeys(keys) {
			av, bv := a.MapIndex(reflect.ValueOf(k)), b.MapIndex(reflect.ValueOf(k))
			if !av.IsValid() || !bv.IsValid() || !reflect.DeepEqual(av.Interface(), bv.Interface()) {
				*out = append(*out, join(prefix, k))
			}
		}
	default:
		if !a.Equal(b) {
			*out = append(*out, prefix)
		}
	}
}

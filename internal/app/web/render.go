package web

import (
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/ordersaga/ordersaga/internal/app/render"
	"github.com/ordersaga/ordersaga/shop"
)

// view is what the index page and its live sections render from.
type view struct {
	Snap    *Snapshot
	Modes   []shop.Mode
	Catalog []product
	Form    formState
}

// formState is the order form as the user left it, with the outcome of
// the last submission.
type formState struct {
	Items  string
	Faults string
	Error  string
	// Placed is the ID of the order just placed.
	Placed string
}

func (s *Server) view(snap *Snapshot, f formState) view {
	return view{Snap: snap, Modes: s.modes, Catalog: s.catalog, Form: f}
}

func parseTemplates(workflowURL func(string) string) (*template.Template, error) {
	funcs := template.FuncMap{
		"num": num,
		// count is a count, or a dash when the engine could not be read.
		"count": func(n int64, err string) string {
			if err != "" {
				return "–"
			}
			return num(n)
		},
		"money":     money,
		"clock":     func(t time.Time) string { return t.Local().Format("15:04:05") },
		"rate":      func(r float64) string { return strconv.FormatFloat(r, 'f', 1, 64) },
		"statusCSS": statusCSS,
		"title":     title,
		"engine":    engineName,
		"uiURL": func(id string) string {
			if workflowURL == nil {
				return ""
			}
			return workflowURL(id)
		},
		"steps": func(s []shop.Step) string {
			if len(s) == 0 {
				return "none"
			}
			out := make([]string, len(s))
			for i, st := range s {
				out[i] = string(st)
			}
			return strings.Join(out, ", ")
		},
		"stepLines": render.StepLines,
		// guestFraudLimit is the amount above which the fraud check
		// refuses a guest's order, as the page's are.
		"guestFraudLimit": func() int64 { return shop.GuestFraudLimitCents },
		"stock": func(b Books, sku string) string {
			v, ok := b.Stock[sku]
			if !ok {
				return "–"
			}
			return num(v)
		},
	}
	t, err := template.New("web").Funcs(funcs).ParseFS(assets, "assets/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: templates: %w", err)
	}
	return t, nil
}

// num writes an integer with thousands separators.
func num(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// money writes cents as units with two decimals.
func money(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s%s.%02d", sign, num(cents/100), cents%100)
}

// statusCSS is the CSS class of a status badge.
func statusCSS(s shop.Status) string {
	if c, ok := statusClasses[s]; ok {
		return c
	}
	if s.Terminal() {
		return "s-other"
	}
	if strings.HasPrefix(string(s), "ENDED") {
		return "s-failed"
	}
	return "s-pending"
}

// statusClasses are the CSS classes of the statuses with one of their own.
var statusClasses = map[shop.Status]string{
	shop.StatusCompleted:   "s-completed",
	shop.StatusCompensated: "s-compensated",
	shop.StatusFailed:      "s-failed",
	"":                     "s-none",
}

// modeNames are a mode's heading and what runs it.
var modeNames = map[shop.Mode]struct{ title, engine string }{
	shop.ModeOrchestration: {"Orchestration", "Temporal workflow"},
	shop.ModeChoreography:  {"Choreography", "Redis Streams"},
}

// title is a mode's heading.
func title(m shop.Mode) string {
	if n, ok := modeNames[m]; ok {
		return n.title
	}
	return string(m)
}

// engineName says what runs a mode.
func engineName(m shop.Mode) string { return modeNames[m].engine }

// timelineRow is one entry of an order's timeline, formatted like
// `starter history`.
type timelineRow struct {
	At, Time, Name, Op, Result, Took, Source, Detail string
	// Class marks failed and retried entries.
	Class string
}

func timeline(evs []shop.Event) []timelineRow {
	out := make([]timelineRow, len(evs))
	var first time.Time
	for i, e := range evs {
		if i == 0 {
			first = e.Time
		}
		r := timelineRow{
			At: "+" + dur(e.Time.Sub(first)), Time: e.Time.Local().Format("15:04:05.000"),
			Name: e.Name, Op: dash(string(e.Op)), Result: dash(e.Result), Took: "-",
			Source: dash(e.Source), Detail: e.Detail,
		}
		if e.Result == "fail" || e.Result == "retry" {
			r.Class = "r-" + e.Result
		}
		if e.Duration > 0 {
			r.Took = dur(e.Duration)
		}
		out[i] = r
	}
	return out
}

// dur writes a duration as milliseconds below a second, seconds above.
func dur(d time.Duration) string {
	ms := float64(d.Microseconds()) / 1000
	if ms >= 1000 {
		return fmt.Sprintf("%.2fs", ms/1000)
	}
	return fmt.Sprintf("%.1fms", ms)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

package console

import (
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/reach"
)

// destIP is the destination select's value for "an IP address".
const destIP = "ip"

// reachFields are the "Test connectivity" form's fields: the source IP,
// the destination (a cluster id, or destIP with the address field), the
// port and the protocol.
var reachFields = []string{"source", "dest", "address", "port", "protocol"}

// reachView is the network page's "Test connectivity" form and, once
// submitted, its answer.
type reachView struct {
	Form     *form
	Clusters []option
	Result   *reach.Result
	// Status is the page's status: 400 for bad input.
	Status int
}

// Badge is the verdict's badge.
func (v *reachView) Badge() badge {
	switch v.Result.Verdict {
	case reach.Reachable:
		return badge{"Reachable", "active"}
	case reach.Unreachable:
		return badge{"Unreachable", "error"}
	}
	return badge{"Ambiguous", "ambiguous"}
}

// reachForm builds the form from the page's query and, when it was
// submitted (the query has a source), answers it. It is nil when the
// console has no reachability checker.
func (c *Console) reachForm(r *http.Request, v *networkView) *reachView {
	if c.opts.Reachability == nil {
		return nil
	}
	rv := &reachView{Status: http.StatusOK}
	for _, cl := range v.Clusters {
		label := cl.DisplayName + " (" + cl.ID + ")"
		if ep := cl.Status.EndpointAddr(); ep != "" {
			label += " — " + ep
		} else {
			label += " — not provisioned yet"
		}
		rv.Clusters = append(rv.Clusters, option{cl.ID, label})
	}
	rv.Clusters = append(rv.Clusters, option{destIP, "An IP address (type it below)"})
	q := r.URL.Query()
	if !q.Has("source") {
		rv.Form = newForm(map[string]string{"dest": rv.Clusters[0].Value, "protocol": "tcp"})
		return rv
	}
	rv.Form = queryForm(q, reachFields...)
	if rv.Form.Values["protocol"] == "" {
		rv.Form.Values["protocol"] = "tcp"
	}
	query, ok := parseReach(rv.Form)
	if ok {
		res, err := c.opts.Reachability.Reach(r.Context(), v.Env.ID, query)
		if err == nil {
			rv.Result = res
			return rv
		}
		dest := "dest"
		if query.Cluster == "" {
			dest = "address"
		}
		rv.Form.fail(c, err, map[string]string{"source": "source", "destination": dest, "port": "port", "protocol": "protocol"})
		if control.ErrorCode(err) != control.EINVALID {
			rv.Status = statusOf(err)
			return rv
		}
	}
	rv.Status = http.StatusBadRequest
	return rv
}

func queryForm(q url.Values, names ...string) *form {
	f := newForm(nil)
	for _, n := range names {
		f.Values[n] = strings.TrimSpace(q.Get(n))
	}
	return f
}

// parseReach checks each field of the form, recording every error, and
// returns the query when there is none. The checker checks again (the
// cluster exists and is provisioned, the port).
func parseReach(f *form) (reach.Query, bool) {
	v := f.Values
	var q reach.Query
	ip := func(name, what string) netip.Addr {
		if v[name] == "" {
			f.Errors[name] = what + " is required."
			return netip.Addr{}
		}
		a, err := netip.ParseAddr(v[name])
		if err != nil || a.Zone() != "" {
			f.Errors[name] = what + " \u201c" + v[name] + "\u201d is not an IP address, such as 10.1.0.4."
		}
		return a.Unmap()
	}
	q.Source = ip("source", "Source IP address")
	switch {
	case v["dest"] == destIP || v["dest"] == "":
		q.Destination = ip("address", "Destination IP address")
	case v["address"] != "":
		f.Errors["address"] = "Leave this empty to test the cluster chosen above, or choose \u201cAn IP address\u201d there."
	default:
		q.Cluster = v["dest"]
	}
	q.Protocol = strings.ToLower(v["protocol"])
	switch q.Protocol {
	case "", "tcp", "udp", "icmp":
	default:
		f.Errors["protocol"] = "Choose TCP, UDP or ICMP."
	}
	if v["port"] != "" {
		n, err := strconv.Atoi(v["port"])
		if err != nil || n < 1 || n > 65535 {
			f.Errors["port"] = "Port \u201c" + v["port"] + "\u201d is not a number from 1 to 65535."
		}
		q.Port = n
	} else if q.Cluster == "" && q.Protocol != "icmp" {
		f.Errors["port"] = "Port is required for an IP address (except with ICMP)."
	}
	return q, !f.HasErrors()
}

// checkMark is how a check's result is marked.
func checkMark(result string) string {
	switch result {
	case reach.Pass:
		return "✓"
	case reach.Fail:
		return "✕"
	case reach.Info:
		return "i"
	}
	return "–"
}

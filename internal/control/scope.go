package control

// Scope says whose rows a Tx method reads or deletes: one organization's
// (OrgScope), or every organization's (AllOrgs). Services act in their
// caller's organization; only the reconciler and the operator's own tools
// act across organizations, and say so with AllOrgs.
//
// The zero Scope is neither, so an organization forgotten on the way never
// widens a read: a Tx method given it returns EINTERNAL.
type Scope struct {
	orgID string
	all   bool
}

// OrgScope is the scope of organization orgID's rows. OrgScope("") is the
// zero Scope.
func OrgScope(orgID string) Scope { return Scope{orgID: orgID} }

// AllOrgs is the scope of every organization's rows.
func AllOrgs() Scope { return Scope{all: true} }

// Org returns the organization s is limited to, or all=true when s is
// AllOrgs. Returns EINTERNAL for the zero Scope.
func (s Scope) Org() (orgID string, all bool, err error) {
	switch {
	case s.all:
		return "", true, nil
	case s.orgID == "":
		return "", false, Errorf(EINTERNAL, "No organization scope was given.")
	}
	return s.orgID, false, nil
}

// String returns "organization ID", "all organizations" or "no
// organization".
func (s Scope) String() string {
	switch {
	case s.all:
		return "all organizations"
	case s.orgID == "":
		return "no organization"
	}
	return "organization " + s.orgID
}

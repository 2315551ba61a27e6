package api

import (
	"context"
	"net/http"
	"time"

	"github.com/peerplane/peerplane/internal/control"
)

// SettingsStore reads and replaces the operator settings.
type SettingsStore interface {
	// Settings returns a copy of the current settings.
	Settings() control.Settings
	// SetSettings validates and replaces the settings; on an error
	// nothing changes.
	SetSettings(context.Context, control.Settings) error
}

func (s *Server) peerplaneRoutes() {
	s.handle("POST /peerplane/v1/peerings/{id}/retry", s.retryPeering)
	s.handle("GET /peerplane/v1/peerings/{id}/diagnosis", s.diagnosePeering)
	s.handle("GET /peerplane/v1/settings", s.getSettings)
	s.handle("PUT /peerplane/v1/settings", s.putSettings)
}

// retryPeering: POST /peerplane/v1/peerings/{id}/retry?environment=env-…
// answers 202 with the peering, now PROVISIONING if it was FAILED or
// DISCONNECTED, and reconciles it at once.
func (s *Server) retryPeering(w http.ResponseWriter, r *http.Request) error {
	env, err := environmentParam(r)
	if err != nil {
		return err
	}
	p, err := s.opts.Peerings.RetryPeering(r.Context(), env, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, s.encodePeering(r, p))
	return nil
}

// diagnosePeering: GET /peerplane/v1/peerings/{id}/diagnosis?environment=env-…
// answers the checklist the reconciler stored with the peering's status
// (every step PENDING until it first checks the peering); it asks nothing
// of Azure.
func (s *Server) diagnosePeering(w http.ResponseWriter, r *http.Request) error {
	env, err := environmentParam(r)
	if err != nil {
		return err
	}
	p, err := s.opts.Peerings.FindPeeringByID(r.Context(), env, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, encodeDiagnosis(p))
	return nil
}

// diagnosis is the wire form of a peering's checklist.
type diagnosis struct {
	PeeringID string          `json:"peering_id"`
	Phase     string          `json:"phase"`
	CheckedAt *time.Time      `json:"checked_at,omitempty"` // absent until first checked
	Checks    []diagnosisStep `json:"checks"`
	Fixes     diagnosisFixes  `json:"fixes"`
}

type diagnosisStep struct {
	Step      string `json:"step"`
	Title     string `json:"title"`
	Status    string `json:"status"`
	ErrorCode string `json:"error_code,omitempty"`
	Evidence  string `json:"evidence,omitempty"`
	Fix       string `json:"fix,omitempty"`
}

type diagnosisFixes struct {
	ConsentURL           string `json:"consent_url,omitempty"`
	CreateSP             string `json:"create_service_principal_command,omitempty"`
	RoleDefinitionList   string `json:"role_definition_list_command,omitempty"`
	RoleDefinitionCreate string `json:"role_definition_create_command,omitempty"`
	RoleDefinitionUpdate string `json:"role_definition_update_command,omitempty"`
	RoleAssignmentCreate string `json:"role_assignment_create_command,omitempty"`
	Tag                  string `json:"tag_command,omitempty"`
}

func encodeDiagnosis(p *control.Peering) diagnosis {
	l := p.Status.Checklist
	d := diagnosis{PeeringID: p.ID, Phase: p.Status.Phase}
	if !l.CheckedAt.IsZero() {
		at := l.CheckedAt.UTC()
		d.CheckedAt = &at
	}
	for _, c := range l.AllChecks() {
		d.Checks = append(d.Checks, diagnosisStep(c))
	}
	f := l.Fixes
	d.Fixes = diagnosisFixes{ConsentURL: f.ConsentURL, CreateSP: f.CreateServicePrincipal, RoleDefinitionList: f.RoleDefinitionList,
		RoleDefinitionCreate: f.RoleDefinitionCreate, RoleDefinitionUpdate: f.RoleDefinitionUpdate,
		RoleAssignmentCreate: f.RoleAssignmentCreate, Tag: f.Tag}
	return d
}

func (s *Server) requireOperator(r *http.Request) error {
	if org := control.OrganizationFromContext(r.Context()); org == nil || !org.Operator {
		return control.Errorf(control.EFORBIDDEN, "Only an operator organization's API key may read or change the settings.")
	}
	if s.opts.Settings == nil {
		return control.Errorf(control.ENOTFOUND, "Settings are not available on this server.")
	}
	return nil
}

// getSettings: GET /peerplane/v1/settings (operator only).
func (s *Server) getSettings(w http.ResponseWriter, r *http.Request) error {
	if err := s.requireOperator(r); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.opts.Settings.Settings())
	return nil
}

// putSettings: PUT /peerplane/v1/settings replaces the settings (operator
// only); fields left out keep their current values. The body is decoded
// into a deep copy, so a rejected request changes nothing.
func (s *Server) putSettings(w http.ResponseWriter, r *http.Request) error {
	if err := s.requireOperator(r); err != nil {
		return err
	}
	next := s.opts.Settings.Settings().Clone()
	if err := decode(r, &next); err != nil {
		return err
	}
	if err := s.opts.Settings.SetSettings(r.Context(), next); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.opts.Settings.Settings())
	return nil
}

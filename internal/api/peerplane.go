package api

import (
	"context"
	"net/http"

	"github.com/peerplane/peerplane/internal/control"
)

// Diagnoser runs the peering checklist without changing anything; the
// reconciler implements it. The result is written as JSON.
type Diagnoser func(ctx context.Context, p *control.Peering) (any, error)

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
func (s *Server) diagnosePeering(w http.ResponseWriter, r *http.Request) error {
	env, err := environmentParam(r)
	if err != nil {
		return err
	}
	p, err := s.opts.Peerings.FindPeeringByID(r.Context(), env, r.PathValue("id"))
	if err != nil {
		return err
	}
	if s.opts.Diagnose == nil {
		return control.Errorf(control.ENOTFOUND, "Diagnosis is not available on this server.")
	}
	d, err := s.opts.Diagnose(r.Context(), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
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

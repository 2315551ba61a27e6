package api

import (
	"net/http"
	"strings"

	"github.com/peerplane/peerplane/internal/control"
)

// iam/v2 API keys: the resource-specific keys of Kafka clusters (a key
// whose spec.resource is a cmk/v2 Cluster), which authenticate the
// cluster's Kafka REST endpoint. Cloud API keys are Peerplane's own
// (/peerplane/v1/organizations/{id}/api-keys) and are not listed here.

type iamAPIKey struct {
	APIVersion string     `json:"api_version"`
	Kind       string     `json:"kind"`
	ID         string     `json:"id"`
	Metadata   objectMeta `json:"metadata"`
	Spec       iamKeySpec `json:"spec"`
}

type iamKeySpec struct {
	Secret      string      `json:"secret,omitempty"` // only when created
	DisplayName string      `json:"display_name"`
	Description string      `json:"description"`
	Owner       *typedRef   `json:"owner,omitempty"`
	Resource    *typedRef   `json:"resource,omitempty"`
	Resources   []*typedRef `json:"resources,omitempty"`
}

// typedRef is iam/v2's ObjectReference.
type typedRef struct {
	ID           string `json:"id"`
	Environment  string `json:"environment,omitempty"`
	Related      string `json:"related,omitempty"`
	ResourceName string `json:"resource_name,omitempty"`
	APIVersion   string `json:"api_version,omitempty"`
	Kind         string `json:"kind,omitempty"`
}

type iamKeyIn struct {
	Spec *struct {
		DisplayName *string    `json:"display_name"`
		Description *string    `json:"description"`
		Owner       *typedRef  `json:"owner"`
		Resource    *typedRef  `json:"resource"`
		Resources   []typedRef `json:"resources"`
	} `json:"spec"`
}

func (s *Server) iamRoutes() {
	s.handle("GET /iam/v2/api-keys", s.listIAMKeys)
	s.handle("POST /iam/v2/api-keys", s.createIAMKey)
	s.handle("GET /iam/v2/api-keys/{id}", s.getIAMKey)
	s.handle("PATCH /iam/v2/api-keys/{id}", s.updateIAMKey)
	s.handle("DELETE /iam/v2/api-keys/{id}", s.deleteIAMKey)
}

func (s *Server) encodeIAMKey(r *http.Request, k *control.ClusterAPIKey, secret string) iamAPIKey {
	self := s.base(r) + "/iam/v2/api-keys/" + k.Key
	out := iamAPIKey{APIVersion: "iam/v2", Kind: "ApiKey", ID: k.Key,
		Metadata: objectMeta{Self: self, ResourceName: control.OrganizationCRN(k.OrgID) + "/api-key=" + k.Key,
			CreatedAt: stamp(k.CreatedAt), UpdatedAt: stamp(k.UpdatedAt)},
		Spec: iamKeySpec{Secret: secret, DisplayName: k.DisplayName, Description: k.Description}}
	if k.Owner.ID != "" {
		path, crn := "users", "user"
		if k.Owner.Kind == control.OwnerKindServiceAccount {
			path, crn = "service-accounts", "service-account"
		}
		out.Spec.Owner = &typedRef{ID: k.Owner.ID, Related: s.base(r) + "/iam/v2/" + path + "/" + k.Owner.ID,
			ResourceName: control.OrganizationCRN(k.OrgID) + "/" + crn + "=" + k.Owner.ID, APIVersion: "iam/v2", Kind: k.Owner.Kind}
	}
	res := &typedRef{ID: k.ClusterID, Environment: k.EnvironmentID, Related: s.base(r) + "/cmk/v2/clusters/" + k.ClusterID,
		ResourceName: control.ClusterCRN(k.OrgID, k.EnvironmentID, k.ClusterID), APIVersion: "cmk/v2", Kind: "Cluster"}
	out.Spec.Resource, out.Spec.Resources = res, []*typedRef{res}
	return out
}

func (s *Server) listIAMKeys(w http.ResponseWriter, r *http.Request) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	filter := control.ClusterAPIKeyFilter{ClusterID: q.Get("spec.resource"), OwnerID: q.Get("spec.owner")}
	keys, next, err := s.opts.ClusterKeys.FindClusterAPIKeys(r.Context(), filter, p)
	if err != nil {
		return err
	}
	writeList(s, w, r, "iam/v2", "ApiKeyList", "/iam/v2/api-keys", next, keys, func(r *http.Request, k *control.ClusterAPIKey) iamAPIKey {
		return s.encodeIAMKey(r, k, "")
	})
	return nil
}

func (s *Server) createIAMKey(w http.ResponseWriter, r *http.Request) error {
	var in iamKeyIn
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Spec == nil {
		return control.FieldErrorf(control.EINVALID, "/spec", "Field spec is required.")
	}
	spec := control.ClusterAPIKeySpec{}
	if res := in.Spec.Resource; res != nil {
		spec.Resource, spec.ResourceKind, spec.ResourceAPIVersion = strings.TrimSpace(res.ID), res.Kind, res.APIVersion
	} else if len(in.Spec.Resources) > 0 {
		res := in.Spec.Resources[0]
		spec.Resource, spec.ResourceKind, spec.ResourceAPIVersion = strings.TrimSpace(res.ID), res.Kind, res.APIVersion
		spec.ResourceField = "/spec/resources/0/id"
	}
	if len(in.Spec.Resources) > 1 {
		return control.FieldErrorf(control.EINVALID, "/spec/resources", "A key here is for one Kafka cluster; give one resource.")
	}
	if o := in.Spec.Owner; o != nil {
		spec.Owner = control.OwnerRef{ID: strings.TrimSpace(o.ID), Kind: o.Kind}
		if o.APIVersion != "" && o.APIVersion != "iam/v2" {
			return control.FieldErrorf(control.EINVALID, "/spec/owner/api_version", "Owner api_version %q is not supported: only iam/v2.", o.APIVersion)
		}
	}
	if in.Spec.DisplayName != nil {
		spec.DisplayName = *in.Spec.DisplayName
	}
	if in.Spec.Description != nil {
		spec.Description = *in.Spec.Description
	}
	k, secret, err := s.opts.ClusterKeys.CreateClusterAPIKey(r.Context(), spec)
	if err != nil {
		return err
	}
	out := s.encodeIAMKey(r, k, secret)
	writeCreated(w, http.StatusAccepted, out.Metadata.Self, out)
	return nil
}

func (s *Server) getIAMKey(w http.ResponseWriter, r *http.Request) error {
	k, err := s.opts.ClusterKeys.FindClusterAPIKey(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.encodeIAMKey(r, k, ""))
	return nil
}

func (s *Server) updateIAMKey(w http.ResponseWriter, r *http.Request) error {
	var in iamKeyIn
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Spec == nil {
		return control.FieldErrorf(control.EINVALID, "/spec", "Field spec is required.")
	}
	if in.Spec.Owner != nil || in.Spec.Resource != nil || len(in.Spec.Resources) > 0 {
		return control.FieldErrorf(control.EINVALID, "/spec", "Only spec.display_name and spec.description can be changed.")
	}
	k, err := s.opts.ClusterKeys.UpdateClusterAPIKey(r.Context(), r.PathValue("id"),
		control.ClusterAPIKeyUpdate{DisplayName: in.Spec.DisplayName, Description: in.Spec.Description})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.encodeIAMKey(r, k, ""))
	return nil
}

func (s *Server) deleteIAMKey(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, s.opts.ClusterKeys.DeleteClusterAPIKey(r.Context(), r.PathValue("id")))
}

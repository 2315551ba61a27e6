package control

import (
	"context"
	"strings"
	"time"
)

// ClusterAPIKey is a resource-specific API key of a Kafka cluster
// (Confluent's iam/v2 ApiKey whose spec.resource is the cluster): HTTP
// Basic credentials for the cluster's Kafka REST endpoint and for nothing
// else. A Cloud API key is not valid there, and a cluster key is not valid
// on the control plane's API. Only a hash of the secret is kept; deleting
// the cluster deletes its keys.
type ClusterAPIKey struct {
	Key           string // 16 uppercase letters and digits, like a Cloud API key
	OrgID         string
	EnvironmentID string
	ClusterID     string
	// Owner is the user or service account the key was made for, as the
	// creator named it (Peerplane has no users or service accounts of its
	// own: the reference is recorded, not resolved); empty when none was
	// given.
	Owner       OwnerRef
	DisplayName string
	Description string
	SecretHash  string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// OwnerRef names the owner of a cluster API key: ID "u-…" with Kind
// "User", or "sa-…" with Kind "ServiceAccount".
type OwnerRef struct {
	ID   string
	Kind string
}

// Owner kinds of iam/v2.
const (
	OwnerKindUser           = "User"
	OwnerKindServiceAccount = "ServiceAccount"
)

// ClusterAPIKeyFilter selects cluster API keys; empty fields match
// everything. Keys are ordered by Key; After and Limit page through them.
type ClusterAPIKeyFilter struct {
	ClusterID string
	OwnerID   string
	After     string
	Limit     int
}

// ClusterAPIKeySpec is a request for a cluster API key.
type ClusterAPIKeySpec struct {
	// Resource is the cluster's id; ResourceKind and ResourceAPIVersion,
	// when given, must be "Cluster" and "cmk/v2".
	Resource           string
	ResourceKind       string
	ResourceAPIVersion string
	// ResourceField is the request field that names the resource, for
	// errors ("/spec/resource/id" by default).
	ResourceField string
	Owner         OwnerRef
	DisplayName   string
	Description   string
}

// ClusterAPIKeyUpdate holds the changes PATCH may make; nil fields stay.
type ClusterAPIKeyUpdate struct {
	DisplayName *string
	Description *string
}

// MaxAPIKeyPageSize is the largest page of API keys (iam/v2).
const MaxAPIKeyPageSize = 100

// ClusterAPIKeyService manages cluster API keys for the caller's
// organization.
type ClusterAPIKeyService interface {
	// CreateClusterAPIKey makes a key for the cluster spec names and
	// returns it with its secret, which is not kept. Returns EINVALID
	// naming the field for a missing or malformed resource or owner, and
	// ENOTFOUND on the resource when the caller has no such cluster.
	CreateClusterAPIKey(ctx context.Context, spec ClusterAPIKeySpec) (*ClusterAPIKey, string, error)
	// FindClusterAPIKey returns ENOTFOUND if the caller has no such key.
	FindClusterAPIKey(ctx context.Context, key string) (*ClusterAPIKey, error)
	// FindClusterAPIKeys returns a page of the caller's keys; filter's
	// OrgID is ignored. Returns EINVALID on page_size or page_token.
	FindClusterAPIKeys(ctx context.Context, filter ClusterAPIKeyFilter, page Page) ([]*ClusterAPIKey, string, error)
	// UpdateClusterAPIKey changes the key's display name or description.
	// Returns ENOTFOUND if the caller has no such key.
	UpdateClusterAPIKey(ctx context.Context, key string, upd ClusterAPIKeyUpdate) (*ClusterAPIKey, error)
	// DeleteClusterAPIKey returns ENOTFOUND if the caller has no such key.
	DeleteClusterAPIKey(ctx context.Context, key string) error
	// AuthenticateClusterKey checks key and secret against cluster
	// clusterID's keys (whatever the organization: the caller is the
	// cluster's REST endpoint). Returns EUNAUTHORIZED for an unknown key, a
	// wrong secret, or a key of another cluster (a Cloud API key too).
	AuthenticateClusterKey(ctx context.Context, clusterID, key, secret string) (*ClusterAPIKey, error)
}

var _ ClusterAPIKeyService = (*Service)(nil)

// validateOwner checks an owner reference: "u-…" (User) or "sa-…"
// (ServiceAccount); a missing kind is taken from the prefix.
func validateOwner(o *OwnerRef) error {
	if o.ID == "" && o.Kind == "" {
		return nil
	}
	want := ""
	switch {
	case strings.HasPrefix(o.ID, "u-") && len(o.ID) > 2:
		want = OwnerKindUser
	case strings.HasPrefix(o.ID, "sa-") && len(o.ID) > 3:
		want = OwnerKindServiceAccount
	default:
		return FieldErrorf(EINVALID, "/spec/owner/id", "Owner %q is not a user (u-…) or service account (sa-…) id.", o.ID)
	}
	if len(o.ID) > 64 || strings.ContainsFunc(o.ID, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) {
		return FieldErrorf(EINVALID, "/spec/owner/id", "Owner %q may hold only letters, digits, - and _, at most 64 of them.", o.ID)
	}
	if o.Kind == "" {
		o.Kind = want
	}
	if o.Kind != want {
		return FieldErrorf(EINVALID, "/spec/owner/kind", "Owner %s is a %s, not a %s.", o.ID, want, o.Kind)
	}
	return nil
}

// CreateClusterAPIKey implements ClusterAPIKeyService.
func (s *Service) CreateClusterAPIKey(ctx context.Context, spec ClusterAPIKeySpec) (*ClusterAPIKey, string, error) {
	org, err := callerOrg(ctx)
	if err != nil {
		return nil, "", err
	}
	field := spec.ResourceField
	if field == "" {
		field = "/spec/resource/id"
	}
	if spec.Resource == "" {
		return nil, "", FieldErrorf(EINVALID, field, "The resource is required: the id of the Kafka cluster (lkc-…) the key is for. Cloud API keys are made under /peerplane/v1/organizations/{id}/api-keys.")
	}
	if !strings.HasPrefix(spec.Resource, PrefixCluster) {
		return nil, "", FieldErrorf(EINVALID, field, "Resource %q is not a Kafka cluster (lkc-…): only cluster API keys are made here.", spec.Resource)
	}
	if spec.ResourceKind != "" && spec.ResourceKind != "Cluster" {
		return nil, "", FieldErrorf(EINVALID, "/spec/resource/kind", "Resource kind %q is not supported: only Cluster.", spec.ResourceKind)
	}
	if spec.ResourceAPIVersion != "" && spec.ResourceAPIVersion != "cmk/v2" {
		return nil, "", FieldErrorf(EINVALID, "/spec/resource/api_version", "Resource api_version %q is not supported: only cmk/v2.", spec.ResourceAPIVersion)
	}
	if err := validateOwner(&spec.Owner); err != nil {
		return nil, "", err
	}
	if err := ValidateDisplayName("/spec/display_name", spec.DisplayName); err != nil {
		return nil, "", err
	}
	if err := ValidateName("/spec/description", "Description", spec.Description); err != nil {
		return nil, "", err
	}
	key, secret := NewAPIKey()
	k := &ClusterAPIKey{Key: key, OrgID: org.ID, ClusterID: spec.Resource, Owner: spec.Owner,
		DisplayName: strings.TrimSpace(spec.DisplayName), Description: strings.TrimSpace(spec.Description),
		SecretHash: HashSecret(secret), CreatedAt: s.now()}
	k.UpdatedAt = k.CreatedAt
	// The cluster's environment is read first, without a lock, so that
	// the write locks parents before children: the environment (alive),
	// then the cluster (still in it).
	var envID string
	err = s.store.View(ctx, func(tx Tx) error {
		c, err := tx.FindClusterByID(ctx, OrgScope(org.ID), spec.Resource)
		if err == nil {
			envID = c.EnvironmentID
		}
		return err
	})
	if err != nil {
		return nil, "", notFoundAs(err, field, "Kafka cluster %s was not found.", spec.Resource)
	}
	err = s.store.Update(ctx, func(tx Tx) error {
		if _, err := liveEnvironment(ctx, tx, org.ID, envID); err != nil {
			return notFoundAs(err, field, "Kafka cluster %s was not found.", spec.Resource)
		}
		c, err := findInLiveEnv(ctx, tx, org.ID, envID, spec.Resource, Tx.FindClusterByID)
		if err != nil {
			return notFoundAs(err, field, "Kafka cluster %s was not found.", spec.Resource)
		}
		k.EnvironmentID = c.EnvironmentID
		return tx.CreateClusterAPIKey(ctx, k)
	})
	if err != nil {
		return nil, "", err
	}
	return k, secret, nil
}

// FindClusterAPIKey implements ClusterAPIKeyService.
func (s *Service) FindClusterAPIKey(ctx context.Context, key string) (*ClusterAPIKey, error) {
	org, err := callerOrg(ctx)
	if err != nil {
		return nil, err
	}
	var k *ClusterAPIKey
	err = s.store.View(ctx, func(tx Tx) error {
		k, err = tx.FindClusterAPIKey(ctx, OrgScope(org.ID), key)
		return err
	})
	return k, err
}

// FindClusterAPIKeys implements ClusterAPIKeyService.
func (s *Service) FindClusterAPIKeys(ctx context.Context, filter ClusterAPIKeyFilter, page Page) ([]*ClusterAPIKey, string, error) {
	org, err := callerOrg(ctx)
	if err != nil {
		return nil, "", err
	}
	after, size, err := pageBounds(page, MaxAPIKeyPageSize)
	if err != nil {
		return nil, "", err
	}
	filter.After, filter.Limit = after, size+1
	var keys []*ClusterAPIKey
	err = s.store.View(ctx, func(tx Tx) error {
		keys, err = tx.FindClusterAPIKeys(ctx, OrgScope(org.ID), filter)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	keys, next := paginate(keys, size, func(k *ClusterAPIKey) string { return k.Key })
	return keys, next, nil
}

// UpdateClusterAPIKey implements ClusterAPIKeyService.
func (s *Service) UpdateClusterAPIKey(ctx context.Context, key string, upd ClusterAPIKeyUpdate) (*ClusterAPIKey, error) {
	org, err := callerOrg(ctx)
	if err != nil {
		return nil, err
	}
	if upd.DisplayName != nil {
		if err := ValidateDisplayName("/spec/display_name", *upd.DisplayName); err != nil {
			return nil, err
		}
	}
	if upd.Description != nil {
		if err := ValidateName("/spec/description", "Description", *upd.Description); err != nil {
			return nil, err
		}
	}
	var k *ClusterAPIKey
	err = s.store.Update(ctx, func(tx Tx) error {
		if k, err = tx.FindClusterAPIKey(ctx, OrgScope(org.ID), key); err != nil {
			return err
		}
		if upd.DisplayName != nil {
			k.DisplayName = strings.TrimSpace(*upd.DisplayName)
		}
		if upd.Description != nil {
			k.Description = strings.TrimSpace(*upd.Description)
		}
		k.UpdatedAt = s.now()
		return tx.UpdateClusterAPIKey(ctx, k)
	})
	return k, err
}

// DeleteClusterAPIKey implements ClusterAPIKeyService.
func (s *Service) DeleteClusterAPIKey(ctx context.Context, key string) error {
	org, err := callerOrg(ctx)
	if err != nil {
		return err
	}
	return s.store.Update(ctx, func(tx Tx) error { return tx.DeleteClusterAPIKey(ctx, OrgScope(org.ID), key) })
}

// AuthenticateClusterKey implements ClusterAPIKeyService.
func (s *Service) AuthenticateClusterKey(ctx context.Context, clusterID, key, secret string) (*ClusterAPIKey, error) {
	unauthorized := Errorf(EUNAUTHORIZED, "Authentication failed")
	if key == "" || secret == "" || len(key) > 64 || len(secret) > 256 {
		return nil, unauthorized
	}
	var k *ClusterAPIKey
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		k, err = tx.FindClusterAPIKey(ctx, AllOrgs(), key)
		if ErrorCode(err) == ENOTFOUND {
			return unauthorized
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if k.ClusterID != clusterID || !SecretMatches(k.SecretHash, secret) {
		return nil, unauthorized
	}
	return k, nil
}

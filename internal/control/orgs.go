package control

import (
	"context"
	"crypto/subtle"
	"strings"
	"sync"
	"time"
)

// NewOperatorContext returns a copy of ctx whose caller is the operator
// itself (no organization): for bootstrapping the first organization and for
// operator tools running inside the server.
func NewOperatorContext(ctx context.Context) context.Context {
	return NewContextWithOrganization(ctx, &Organization{DisplayName: "operator", Operator: true})
}

// canSee reports whether caller may act on organization orgID.
func canSee(caller *Organization, orgID string) bool {
	return caller.Operator || caller.ID == orgID
}

// Authenticate implements OrgService.
func (s *Service) Authenticate(ctx context.Context, key, secret string) (*Organization, error) {
	unauthorized := Errorf(EUNAUTHORIZED, "The API key or secret is invalid.")
	if key == "" || secret == "" || len(key) > 64 || len(secret) > 256 {
		return nil, unauthorized
	}
	hash := HashSecret(secret)
	if org := s.auth.get(key, hash); org != nil {
		return org, nil
	}
	var org *Organization
	err := s.store.View(ctx, func(tx Tx) error {
		k, err := tx.FindAPIKey(ctx, key)
		if ErrorCode(err) == ENOTFOUND {
			return unauthorized
		} else if err != nil {
			return err
		}
		if !SecretMatches(k.SecretHash, secret) {
			return unauthorized
		}
		org, err = tx.FindOrganizationByID(ctx, k.OrgID)
		if ErrorCode(err) == ENOTFOUND {
			return unauthorized
		}
		return err
	})
	if err == nil {
		s.auth.put(key, hash, org)
	}
	return org, err
}

// authTTL is how long a verified API key is trusted without reading the
// store again: every request otherwise pays a store transaction for it. A
// key deleted through this replica stops working at once, through another
// replica within authTTL.
const authTTL = time.Second

type authEntry struct {
	hash  string
	org   Organization
	until time.Time
}

// authCache remembers API keys verified within authTTL.
type authCache struct {
	mu sync.Mutex
	m  map[string]authEntry
}

func (c *authCache) get(key, hash string) *Organization {
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if !ok || time.Now().After(e.until) || subtle.ConstantTimeCompare([]byte(e.hash), []byte(hash)) != 1 {
		return nil
	}
	org := e.org
	return &org
}

func (c *authCache) put(key, hash string, org *Organization) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= 10000 {
		c.m = map[string]authEntry{}
	}
	c.m[key] = authEntry{hash: hash, org: *org, until: time.Now().Add(authTTL)}
}

func (c *authCache) forget(key string) {
	c.mu.Lock()
	delete(c.m, key)
	c.mu.Unlock()
}

// CreateOrganization implements OrgService.
func (s *Service) CreateOrganization(ctx context.Context, org *Organization) error {
	caller, err := callerOrg(ctx)
	if err != nil {
		return err
	}
	if !caller.Operator {
		return Errorf(EFORBIDDEN, "Only the operator may create organizations.")
	}
	if err := ValidateOrganizationName("/display_name", org.DisplayName); err != nil {
		return err
	}
	org.ID = NewOrganizationID()
	org.CreatedAt = s.now()
	org.UpdatedAt = org.CreatedAt
	return s.store.Update(ctx, func(tx Tx) error { return tx.CreateOrganization(ctx, org) })
}

// FindOrganizationByID implements OrgService.
func (s *Service) FindOrganizationByID(ctx context.Context, id string) (*Organization, error) {
	caller, err := callerOrg(ctx)
	if err != nil {
		return nil, err
	}
	if !canSee(caller, id) {
		return nil, Errorf(ENOTFOUND, "Organization %s was not found.", id)
	}
	var org *Organization
	err = s.store.View(ctx, func(tx Tx) error {
		org, err = tx.FindOrganizationByID(ctx, id)
		return err
	})
	return org, err
}

// FindOrganizations implements OrgService.
func (s *Service) FindOrganizations(ctx context.Context, page Page) ([]*Organization, string, error) {
	caller, err := callerOrg(ctx)
	if err != nil {
		return nil, "", err
	}
	if !caller.Operator {
		return nil, "", Errorf(EFORBIDDEN, "Only the operator may list organizations.")
	}
	after, size, err := pageBounds(page, MaxEnvironmentPageSize)
	if err != nil {
		return nil, "", err
	}
	var orgs []*Organization
	err = s.store.View(ctx, func(tx Tx) error {
		orgs, err = tx.FindOrganizations(ctx, OrganizationFilter{After: after, Limit: size + 1})
		return err
	})
	if err != nil {
		return nil, "", err
	}
	orgs, next := paginate(orgs, size, func(o *Organization) string { return o.ID })
	return orgs, next, nil
}

// CreateAPIKey implements OrgService.
func (s *Service) CreateAPIKey(ctx context.Context, orgID, description string) (*APIKey, string, error) {
	caller, err := callerOrg(ctx)
	if err != nil {
		return nil, "", err
	}
	if !canSee(caller, orgID) {
		return nil, "", Errorf(ENOTFOUND, "Organization %s was not found.", orgID)
	}
	if err := ValidateName("/description", "Description", description); err != nil {
		return nil, "", err
	}
	key, secret := NewAPIKey()
	k := &APIKey{
		Key:         key,
		OrgID:       orgID,
		Description: strings.TrimSpace(description),
		SecretHash:  HashSecret(secret),
		CreatedAt:   s.now(),
	}
	err = s.store.Update(ctx, func(tx Tx) error {
		if _, err := tx.FindOrganizationByID(ctx, orgID); err != nil {
			return err
		}
		return tx.CreateAPIKey(ctx, k)
	})
	if err != nil {
		return nil, "", err
	}
	return k, secret, nil
}

// FindAPIKeys implements OrgService.
func (s *Service) FindAPIKeys(ctx context.Context, orgID string) ([]*APIKey, error) {
	caller, err := callerOrg(ctx)
	if err != nil {
		return nil, err
	}
	if !canSee(caller, orgID) {
		return nil, Errorf(ENOTFOUND, "Organization %s was not found.", orgID)
	}
	var keys []*APIKey
	err = s.store.View(ctx, func(tx Tx) error {
		if _, err := tx.FindOrganizationByID(ctx, orgID); err != nil {
			return err
		}
		keys, err = tx.FindAPIKeys(ctx, orgID)
		return err
	})
	return keys, err
}

// DeleteAPIKey implements OrgService.
func (s *Service) DeleteAPIKey(ctx context.Context, orgID, key string) error {
	caller, err := callerOrg(ctx)
	if err != nil {
		return err
	}
	if !canSee(caller, orgID) {
		return Errorf(ENOTFOUND, "Organization %s was not found.", orgID)
	}
	err = s.store.Update(ctx, func(tx Tx) error { return tx.DeleteAPIKey(ctx, orgID, key) })
	s.auth.forget(key)
	return err
}

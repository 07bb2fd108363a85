package rancher

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	client "github.com/rancher/go-rancher/v2"

	"github.com/ecr-updater/ecr-updater/internal/setting"
)

// TypeAccess is what a key may do with one resource type in one scope, as the scope's schema says (its
// collectionMethods and resourceMethods).
type TypeAccess struct {
	// Visible is false when the scope has no schema for the type at all.
	Visible bool
	// List is GET on the collection, Create POST on it, Update PUT on a resource.
	List, Create, Update bool
}

// Access is what a key may do, in one environment's scope, with the two resource types the updater writes.
type Access struct {
	Registry, Credential TypeAccess
}

func typeAccess(types map[string]client.Schema, t string) TypeAccess {
	schema, ok := types[t]
	if !ok {
		return TypeAccess{}
	}
	return TypeAccess{
		Visible: true,
		List:    contains(schema.CollectionMethods, http.MethodGet),
		Create:  contains(schema.CollectionMethods, http.MethodPost),
		Update:  contains(schema.ResourceMethods, http.MethodPut),
	}
}

// accessOf reads the access from a scope's schemas.
func accessOf(types map[string]client.Schema) Access {
	return Access{Registry: typeAccess(types, client.REGISTRY_TYPE), Credential: typeAccess(types, client.REGISTRY_CREDENTIAL_TYPE)}
}

// Err is nil when the key may do all the updater does: list and create registries, and list, create and update
// registry credentials. Otherwise it says the first thing missing.
func (a Access) Err() error {
	for _, t := range []struct {
		name   string
		a      TypeAccess
		update bool
	}{{client.REGISTRY_TYPE, a.Registry, false}, {client.REGISTRY_CREDENTIAL_TYPE, a.Credential, true}} {
		switch {
		case !t.a.Visible:
			return fmt.Errorf("the key cannot see %s resources", t.name)
		case !t.a.List || !t.a.Create:
			return fmt.Errorf("%s resources are read-only for this key and URL (cannot create)", t.name)
		case t.update && !t.a.Update:
			return fmt.Errorf("%s is not updatable with this key and URL", t.name)
		}
	}
	return nil
}

// String says in words what the key may do, e.g. "registry: list, create; registryCredential: list, create, update".
func (a Access) String() string {
	word := func(t TypeAccess) string {
		if !t.Visible {
			return "not visible"
		}
		var w []string
		for _, m := range []struct {
			ok   bool
			name string
		}{{t.List, "list"}, {t.Create, "create"}, {t.Update, "update"}} {
			if m.ok {
				w = append(w, m.name)
			}
		}
		if len(w) == 0 {
			return "nothing"
		}
		return strings.Join(w, ", ")
	}
	return client.REGISTRY_TYPE + ": " + word(a.Registry) + "; " + client.REGISTRY_CREDENTIAL_TYPE + ": " + word(a.Credential)
}

// WriteFix says how to get a key and URL that may write registries, for this server's key.
func (s *Server) WriteFix() string {
	if s.IsAccountKey() {
		return fmt.Sprintf("%s is an Account API key and %s names no environment: give the Environment API Endpoint (/v2-beta/projects/<id>) as %s, or set %s",
			setting.AccessKey, setting.URL, setting.URL, setting.Environments)
	}
	return "use an Environment API key, the agent labels, or an Environment API Endpoint (/v2-beta/projects/<id>) as " + setting.URL.String()
}

// Inspect connects a client scoped to one environment, as Open does (one request: its schemas), and says what the
// key may do there, without requiring write access: the environment it returns can list registries, credentials
// and services even when Access.Err is not nil. Open is Inspect plus that requirement.
func (s *Server) Inspect(ctx context.Context, id string) (*Env, Access, error) {
	schemas := s.schemas
	switch {
	case id != "":
		schemas = s.endpoint.ProjectSchemas(id)
	case s.endpoint.Project != "":
		id = s.endpoint.Project
		schemas = s.endpoint.ProjectSchemas(id)
	default:
		id = s.BoundEnvironment() // an Environment API key's or an agent key's environment; "" for others
	}
	e := &Env{id: id, srv: s}
	c, err := s.connect(ctx, schemas, &e.requests, client.REGISTRY_TYPE, client.REGISTRY_CREDENTIAL_TYPE, client.SERVICE_TYPE)
	if err != nil {
		return nil, Access{}, fmt.Errorf("connect to environment %s: %w", e, err)
	}
	e.c = c
	return e, accessOf(c.Types), nil
}

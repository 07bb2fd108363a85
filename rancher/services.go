package rancher

import (
	"context"
	"fmt"
	"strings"

	client "github.com/rancher/go-rancher/v2"
)

// Service is a service as Rancher lists it, with what it runs: the image of its launchConfig and of each of its
// secondaryLaunchConfigs (sidekicks).
type Service struct {
	ID, EnvID, Name, State, StackID string
	// Kind is Cattle's kind: "service", "loadBalancerService", "externalService", "dnsService", ...
	Kind string
	// Images are the imageUuid values as Rancher stores them ("docker:<image>"), launchConfig first; a service
	// without a launchConfig (external, DNS) has none.
	Images []ServiceImage
}

// ServiceImage is one image a service runs.
type ServiceImage struct {
	// Container is "" for the launchConfig, the sidekick's name for a secondaryLaunchConfig.
	Container string
	// ImageUUID is the imageUuid as Rancher stores it, e.g. "docker:123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1".
	ImageUUID string
}

// Services lists every service of the environment that Rancher lists (all but removed and purged), page by page,
// bounded like the other lists. The key needs only read access.
func (e *Env) Services(ctx context.Context) ([]Service, error) {
	out, err := listAll(ctx, e.srv, "list services", &e.requests, e.c, client.SERVICE_TYPE, servicePage)
	if err != nil {
		return nil, fmt.Errorf("list services of environment %s: %w", e, err)
	}
	return out, nil
}

func service(s client.Service) Service {
	out := Service{ID: s.Id, EnvID: s.AccountId, Name: s.Name, State: s.State, StackID: s.StackId, Kind: s.Kind}
	if s.LaunchConfig != nil && s.LaunchConfig.ImageUuid != "" {
		out.Images = append(out.Images, ServiceImage{ImageUUID: s.LaunchConfig.ImageUuid})
	}
	for _, sk := range s.SecondaryLaunchConfigs {
		if sk.ImageUuid != "" {
			out.Images = append(out.Images, ServiceImage{Container: sk.Name, ImageUUID: sk.ImageUuid})
		}
	}
	return out
}

// servicePage checks and converts a page of services. Cattle lists every kind of service in the one collection
// ("service", "loadBalancerService", "externalService", "dnsService", ...): each is a service.
func servicePage(c *client.ServiceCollection) (page[Service], error) {
	return newPage(&c.Collection, client.SERVICE_TYPE, c.Data, func(s client.Service) (string, Service) {
		typ := s.Type
		if typ == client.SERVICE_TYPE || strings.HasSuffix(typ, "Service") {
			typ = client.SERVICE_TYPE
		}
		return typ, service(s)
	})
}

// GraphiQL served from the binary (no CDN). Queries go to /graphql, subscriptions to
// /graphql/ws (graphql-transport-ws). The console's sign-in token, when there is one in this
// tab, is put in the headers editor, so a signed-in user can query at once.
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import 'graphiql/graphiql.css';

const token = sessionStorage.getItem('cmdb.token');
const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql/ws`;
const fetcher = createGraphiQLFetcher({
  url: '/graphql',
  subscriptionUrl: wsUrl,
  wsConnectionParams: () => {
    // GraphiQL's headers editor is the source of truth once the user edits it.
    try {
      const h = JSON.parse(localStorage.getItem('graphiql:headers') || '{}');
      const auth = h.Authorization || h.authorization;
      if (auth) return { Authorization: auth };
    } catch (_) { /* not JSON yet: fall through */ }
    return token ? { Authorization: `Bearer ${token}` } : {};
  },
});

const defaultHeaders = token ? JSON.stringify({ Authorization: `Bearer ${token}` }, null, 2) : undefined;
const defaultQuery = `# cmdb GraphQL: the console at /console is built on these same queries.
{
  businessServices { id name criticality owner operationalStatus }
  stats { cis relationships byClass { name count } }
}
`;

createRoot(document.getElementById('graphiql')).render(
  <GraphiQL fetcher={fetcher} defaultQuery={defaultQuery} defaultHeaders={defaultHeaders} shouldPersistHeaders={true} />,
);

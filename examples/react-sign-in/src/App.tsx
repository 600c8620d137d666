import { useEffect, useState, type ReactNode } from 'react';
import { Link, Outlet, Route, Routes, useNavigate } from 'react-router';
import type { OidcSession } from 'shared-session/oidc';
import { useSession, useSignedIn, useUser } from 'shared-session/react';
import { apiUrl } from './session.js';

export function App(): ReactNode {
  return (
    <Routes>
      <Route element={<Layout />}>
        <Route index element={<Home />} />
        <Route path="profile" element={<Profile />} />
        <Route path="callback" element={<Callback />} />
      </Route>
    </Routes>
  );
}

function Layout(): ReactNode {
  const session = useSession<OidcSession>();
  const signedIn = useSignedIn();
  const user = useUser();
  return (
    <>
      <nav>
        <Link to="/">Home</Link> <Link to="/profile">Profile</Link>{' '}
        {signedIn ? (
          // `redirect: false` stays in the app; the default also ends the provider's session (RP-initiated logout).
          <button onClick={() => void session?.signOut({ redirect: false })}>Sign out {user?.name}</button>
        ) : (
          <button onClick={() => void session?.signIn()} disabled={session === undefined}>
            Sign in
          </button>
        )}
      </nav>
      <p data-testid="status">{signedIn ? `Signed in as ${user?.name ?? user?.sub}` : 'Signed out'}</p>
      <Outlet />
    </>
  );
}

function Home(): ReactNode {
  return <h1>Home</h1>;
}

/** Calls the API with the session's token: `getToken()` waits for a fresh one (shared by every tab). */
function Profile(): ReactNode {
  const session = useSession<OidcSession>();
  const signedIn = useSignedIn();
  const [answer, setAnswer] = useState('');
  useEffect(() => {
    if (session === undefined || !signedIn) return;
    const controller = new AbortController();
    void (async () => {
      try {
        const { accessToken } = await session.getToken({ signal: controller.signal });
        const response = await fetch(apiUrl, { headers: { Authorization: `Bearer ${accessToken}` }, signal: controller.signal });
        setAnswer(`API ${response.status}`);
      } catch (error) {
        if (!controller.signal.aborted) setAnswer(`API failed: ${String(error)}`);
      }
    })();
    return () => controller.abort();
  }, [session, signedIn]);
  return (
    <>
      <h1>Profile</h1>
      <p data-testid="api">{answer}</p>
    </>
  );
}

/**
 * The redirect URI. The session completes the sign-in (its `ready`, which brings back `{ returnTo, state }`); the
 * router is told to show the page the user signed in from.
 */
function Callback(): ReactNode {
  const session = useSession<OidcSession>();
  const navigate = useNavigate();
  const [failure, setFailure] = useState<string>();
  useEffect(() => {
    if (session === undefined) return;
    let mounted = true;
    session.ready.then(
      // `returnTo`: the page the user signed in from (a reload of a spent callback has none: the URL shows where to be).
      (result) => mounted && navigate(result?.returnTo ?? `${location.pathname}${location.search}${location.hash}`, { replace: true }),
      (error: { code?: string }) => mounted && setFailure(error.code ?? 'failed'),
    );
    return () => {
      mounted = false;
    };
  }, [session, navigate]);
  return <p>{failure === undefined ? 'Signing in…' : `Sign-in failed: ${failure}`}</p>;
}

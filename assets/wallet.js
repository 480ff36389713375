// Every wallet call of the app, in one place (loaded on every page by trading_app.py).
//
// Each function resolves to a plain object and never rejects: Reflex never calls a
// call_script callback when the promise rejects, so errors travel as {error: code}.
(() => {
  // Reflex's own rule (utils/state.js getBackendURL): a backend on "localhost" is reached on
  // the host the page was loaded from, so the cookie lands where the websocket connects.
  const SAME_HOST = ["localhost", "0.0.0.0", "::", "[::]"];
  const discovered = [];

  window.addEventListener("eip6963:announceProvider", (event) => {
    const detail = event.detail;
    if (!detail || !detail.provider) return;
    const uuid = detail.info && detail.info.uuid;
    if (!discovered.some((d) => d.info && d.info.uuid === uuid)) discovered.push(detail);
  });
  window.dispatchEvent(new Event("eip6963:requestProvider"));

  function backend(apiBase) {
    const url = new URL(apiBase);
    if (SAME_HOST.includes(url.hostname)) {
      url.hostname = window.location.hostname;
      if (window.location.protocol === "https:") {
        url.protocol = "https:";
        url.port = "";
      }
    }
    return url.origin;
  }

  async function findProvider() {
    // EIP-6963 first (several wallets can coexist); window.ethereum only as a fallback
    if (!discovered.length) {
      window.dispatchEvent(new Event("eip6963:requestProvider"));
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return (discovered[0] && discovered[0].provider) || window.ethereum || null;
  }

  function toHexUtf8(text) {
    const bytes = new TextEncoder().encode(text);
    return "0x" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function walletError(e) {
    const code = e && typeof e.code === "number" ? e.code : null;
    const detail = e && e.message ? String(e.message).slice(0, 200) : "";
    return { error: code === 4001 ? "rejected" : "wallet_error", code, detail };
  }

  async function api(url, options) {
    const response = await fetch(url, { credentials: "include", ...options });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) return { error: body.error || "server_error", status: response.status };
    return body;
  }

  async function signIn(apiBase, chainId) {
    try {
      const eth = await findProvider();
      if (!eth) return { error: "no_wallet" };
      let accounts, walletChain, signature;
      try {
        accounts = await eth.request({ method: "eth_requestAccounts" });
      } catch (e) {
        return walletError(e);
      }
      if (!accounts || !accounts.length) return { error: "no_account" };
      const address = accounts[0];
      try {
        walletChain = parseInt(await eth.request({ method: "eth_chainId" }), 16);
      } catch (e) {
        return walletError(e);
      }
      if (walletChain !== chainId) return { error: "wrong_chain", chain: walletChain };
      const base = backend(apiBase);
      const query = new URLSearchParams({ address, chain_id: String(walletChain) });
      const issued = await api(`${base}/api/auth/generate-message?${query}`, {});
      if (issued.error) return issued;
      try {
        signature = await eth.request({ method: "personal_sign", params: [toHexUtf8(issued.message), address] });
      } catch (e) {
        return walletError(e);
      }
      return await api(`${base}/api/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ message: issued.message, signature }),
      });
    } catch (e) {
      return { error: "network_error" };
    }
  }

  async function logout(apiBase) {
    try {
      // JSON, like every write the API takes with the cookie (the server refuses other types)
      await fetch(`${backend(apiBase)}/api/auth/logout`, {
        method: "POST",
        credentials: "include",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
    } catch (e) {
      // the session is already revoked server-side; only the stale cookie may remain
    }
    window.location.assign("/login");
    return {};
  }

  // A full navigation, so the new page's websocket carries the new session cookie.
  function go(path) {
    window.location.assign(path);
    return {};
  }

  window.tradingWallet = { signIn, logout, go };
})();

// The page: no token code at all. It registers the service worker, then shows protected tiles as plain <img> tags.
const worker = navigator.serviceWorker;
await worker.register('/sw.js', { type: 'module', scope: '/' });
if (worker.controller === null) await new Promise((resolve) => worker.addEventListener('controllerchange', resolve, { once: true }));

const grid = document.querySelector('#tiles')!;
for (let x = 130; x < 133; x++) {
  const img = document.createElement('img');
  img.src = `/tiles/8/${x}/90.png`; // the service worker adds Authorization; the API answers 401 without it
  img.width = 128;
  grid.append(img);
}

/** What one capture should do. */
export interface CaptureRequest {
  readonly interface: string;
  /** Length of the sample window; iftop runs a little longer (see IftopCapture). */
  readonly sampleSeconds: number;
  /** Most flows iftop prints (`-L`). */
  readonly flowLimit: number;
  /** Split flows by port (`-P`). */
  readonly ports: boolean;
  /** Aborting ends the capture early and cleanly (SIGINT), keeping what iftop printed. */
  readonly signal?: AbortSignal;
}

/** How a capture ended. */
export type CaptureEnding =
  /** iftop printed its table (and exited by itself, or was stopped just after). */
  | 'printed'
  /** The deadline passed with nothing printed (an idle interface): iftop was stopped. */
  | 'deadline'
  /** The request's signal was aborted. */
  | 'aborted';

/** The raw text of one capture, for the parser. */
export interface CaptureResult {
  readonly command: string;
  readonly text: string;
  readonly stderr: string;
  readonly startedAt: Date;
  readonly endedAt: Date;
  readonly ending: CaptureEnding;
}

/** Stage 1 of the pipeline: produce iftop text for one sample. */
export interface Capture {
  /** @throws CaptureError when iftop cannot run or fails. Never leaves a process behind. */
  capture(request: CaptureRequest): Promise<CaptureResult>;
}

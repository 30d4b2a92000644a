// MPIRuntime: MPI's lifetime in this process — detect mpirun, initialise once, turn every failing call
// into a Swift error naming the call, finalise at exit.
//
// Thread level: MPI_THREAD_MULTIPLE is requested, SERIALIZED is the least accepted. The bucketed
// all-reduce runs a communication thread that sums gradient buckets over the data axis while the main
// thread computes; on a mesh with a model axis the main thread meanwhile sums activations over the model
// axis — two blocking collectives on different communicators at the same time, which needs MULTIPLE.
// (With one process-wide lock instead, a rank whose communication thread waits inside a data-axis
// all-reduce would keep its main thread out of the model-axis all-reduce its partner waits in: a
// deadlock across the two axes.) When MPI provides only SERIALIZED, every call goes through one
// process-wide lock in `MPIRuntime.call` and meshes with both axes > 1 are refused (`allowsConcurrentCalls`).
//
// Without mpirun (no OMPI_COMM_WORLD_SIZE / PMIX_RANK / PMI_RANK in the environment) MPI_Init is never
// called and the world is a `LocalCommunicator`, so a plain binary starts instantly. Either way the world
// must have as many ranks as the launcher started tasks (LaunchCheck.swift), or `world()` refuses.
import CMPI
import _MPIShims
#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A failing MPI call: its name, its error code and Open MPI's text for the code.
public struct MPIError: Error, CustomStringConvertible {
    public let call: String
    public let code: Int32
    public let message: String
    public var description: String { "\(call) failed with error \(code): \(message)" }
}

/// MPI's thread support levels, in increasing order.
public enum MPIThreadLevel: Int, Comparable, Sendable, CustomStringConvertible {
    case single, funneled, serialized, multiple

    init(mpiValue: Int32) {
        switch mpiValue {
        case vt_mpi_thread_multiple(): self = .multiple
        case vt_mpi_thread_serialized(): self = .serialized
        case vt_mpi_thread_funneled(): self = .funneled
        default: self = .single
        }
    }

    var mpiValue: Int32 {
        switch self {
        case .single: return vt_mpi_thread_single()
        case .funneled: return vt_mpi_thread_funneled()
        case .serialized: return vt_mpi_thread_serialized()
        case .multiple: return vt_mpi_thread_multiple()
        }
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String {
        ["MPI_THREAD_SINGLE", "MPI_THREAD_FUNNELED", "MPI_THREAD_SERIALIZED", "MPI_THREAD_MULTIPLE"][rawValue]
    }
}

public enum MPIRuntime {
    /// The level requested from MPI_Init_thread, and the least accepted (see the file comment for why).
    public static let requestedThreadLevel = MPIThreadLevel.multiple
    public static let requiredThreadLevel = MPIThreadLevel.serialized

    /// True when two threads may be inside MPI calls at once (MPI_THREAD_MULTIPLE was provided), or MPI
    /// is not initialised (one process: nothing to serialise).
    public static var allowsConcurrentCalls: Bool { !isInitialised || providedLevel == .multiple }

    /// True when a launcher (Open MPI's mpirun, PMIx or a PMI launcher such as srun) started us.
    public static var isLaunchedUnderMPI: Bool {
        let variables: [String] = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"]
        return variables.contains { ProcessInfo.processInfo.environment[$0] != nil }
    }

    /// All processes of the job: an `MPICommunicator` over MPI_COMM_WORLD when launched under mpirun
    /// (initialising MPI on first use), otherwise a `LocalCommunicator`. Throws `LaunchMismatch` when the
    /// launcher started another number of tasks than the world has (`srun` without `--mpi=pmix`; see
    /// LaunchCheck.swift); then only the launcher's task 0 throws, every other task exits 1 quietly, so
    /// the job's log holds the message once.
    public static func world() throws -> any Communicator {
        let world: any Communicator = isLaunchedUnderMPI ? try initialisedWorld.get() : LocalCommunicator()
        let environment = ProcessInfo.processInfo.environment
        if let mismatch = LaunchCheck.mismatch(environment: environment, worldSize: world.size) {
            if LaunchCheck.launcherIndex(environment: environment) != 0 { exit(1) }
            throw mismatch
        }
        return world
    }

    /// The thread level MPI provided, or nil when MPI was not initialised.
    public static var providedThreadLevel: MPIThreadLevel? {
        isInitialised ? providedLevel : nil
    }

    /// Ends every rank of the job (MPI_Abort) after an unrecoverable error; without MPI, exit(code).
    /// Use this instead of a plain exit when a rank fails, or the other ranks wait forever.
    public static func abort(code: Int32) -> Never {
        if isInitialised && !isFinalised { _ = MPI_Abort(vt_mpi_comm_world(), code) }
        exit(code)
    }

    // MARK: Calls

    /// The lock that serialises all MPI calls of the process (MPI_THREAD_SERIALIZED).
    private static let callLock = NSLock()

    /// Runs one MPI call under the process-wide lock; a status other than MPI_SUCCESS becomes an
    /// `MPIError` naming `name`.
    static func call(_ name: String, _ body: () -> Int32) throws {
        let serialise = !lockFree
        if serialise { callLock.lock() }
        let status = body()
        if serialise { callLock.unlock() }
        guard status != vt_mpi_success() else { return }
        throw MPIError(call: name, code: status, message: errorString(status))
    }

    static func errorString(_ code: Int32) -> String {
        var text = [CChar](repeating: 0, count: Int(vt_mpi_max_error_string()) + 1)
        var length: Int32 = 0
        callLock.lock()
        defer { callLock.unlock() }
        guard MPI_Error_string(code, &text, &length) == vt_mpi_success() else { return "unknown MPI error" }
        return String(cString: text)
    }

    static var isFinalised: Bool {
        var flag: Int32 = 0
        _ = MPI_Finalized(&flag)
        return flag != 0
    }

    // MARK: Initialisation and finalisation

    private nonisolated(unsafe) static var providedLevel = MPIThreadLevel.single
    private nonisolated(unsafe) static var isInitialised = false
    /// Set once during initialisation (before any other thread calls MPI) when MULTIPLE was provided.
    private nonisolated(unsafe) static var lockFree = false

    /// Swift runs a static `let` initialiser exactly once, even under concurrent first use.
    private static let initialisedWorld: Result<MPICommunicator, Error> = Result {
        var provided: Int32 = 0
        let status = MPI_Init_thread(nil, nil, requestedThreadLevel.mpiValue, &provided)
        guard status == vt_mpi_success() else {
            throw MPIError(call: "MPI_Init_thread", code: status, message: "see Open MPI's message above")
        }
        isInitialised = true
        atexit { MPIRuntime.finalise() }
        // Errors are returned to us (and thrown) instead of aborting the job inside Open MPI;
        // communicators derived from the world inherit this handler.
        try call("MPI_Comm_set_errhandler") { MPI_Comm_set_errhandler(vt_mpi_comm_world(), vt_mpi_errors_return()) }
        providedLevel = MPIThreadLevel(mpiValue: provided)
        lockFree = providedLevel == .multiple
        guard providedLevel >= requiredThreadLevel else {
            throw MPIError(call: "MPI_Init_thread", code: provided,
                           message: "provided \(providedLevel), the communication thread needs \(requiredThreadLevel)")
        }
        return try MPICommunicator(world: ())
    }

    /// Called by atexit: MPI_Finalize once, if MPI was initialised.
    static func finalise() {
        guard isInitialised, !isFinalised else { return }
        PeerHeartbeat.stopAll()  // its thread must not call MPI after this
        callLock.lock()
        _ = MPI_Finalize()
        callLock.unlock()
    }
}
